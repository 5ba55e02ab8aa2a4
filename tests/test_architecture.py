"""The import layers hold, there is no import cycle, and the front doors reach the capabilities only through ops.

Every import counts: those inside functions and those under ``if TYPE_CHECKING:`` too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
import networkx as nx
import pytest

import gridmgmt

# Higher layers may import lower ones, never the reverse (the README's architecture section).
LAYERS: dict[str, int] = {
    "gridmgmt.__main__": 8,
    "gridmgmt.cli": 7,
    "gridmgmt.service": 7,
    "gridmgmt.province": 7,
    "gridmgmt.ops": 6,
    "gridmgmt.patrol": 5,
    "gridmgmt.loop": 4,
    "gridmgmt.grids": 3,
    "gridmgmt.risk": 3,
    "gridmgmt.demo": 3,
    "gridmgmt.maps": 2,
    "gridmgmt.network": 2,
    "gridmgmt.inputs": 2,
    "gridmgmt.store": 2,
    "gridmgmt.config": 1,
    "gridmgmt.io": 1,
    "gridmgmt.coords": 1,
    "gridmgmt.text": 1,
    "gridmgmt.vocab": 1,
    "gridmgmt.permissions": 1,
    "gridmgmt.labels": 1,
    "gridmgmt._errors": 1,
    "gridmgmt": 1,
}

#: The front doors parse input, call ``gridmgmt.ops`` and present the result.
FRONT_DOORS = ("gridmgmt.cli", "gridmgmt.service", "gridmgmt.province")
#: The capabilities: every package between the basics (layer 1) and ``ops``, except the store.
#: A front door reaches them only through ``gridmgmt.ops`` (it may name the store's types and use
#: the basics: config, io, coords, text, vocab, labels, permissions, _errors).
CAPABILITIES = ("gridmgmt.grids", "gridmgmt.risk", "gridmgmt.patrol", "gridmgmt.loop", "gridmgmt.maps",
                "gridmgmt.network", "gridmgmt.inputs", "gridmgmt.demo")  # fmt: skip
#: Only these open the shared store or record runs.
STORE_OWNERS = ("gridmgmt/ops/", "gridmgmt/store/")
PACKAGE = Path(gridmgmt.__file__).parent


def _layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return LAYERS[name]
    raise KeyError(module)


def _top(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("gridmgmt", exclude_type_checking_imports=False)


def test_every_module_has_a_layer(graph) -> None:
    """A new top-level module or subpackage must be given its place in the layers."""
    unplaced = sorted(m for m in graph.modules if not any(m == k or m.startswith(k + ".") for k in LAYERS))
    assert unplaced == [], f"add these to LAYERS in {__file__}: {unplaced}"


def test_imports_point_down_the_layers(graph) -> None:
    """cli | service | province -> ops -> patrol -> loop -> grids | risk | demo -> maps | network | inputs | store
    -> basics."""
    upward = [
        f"{m} (layer {_layer(m)}) imports {i} (layer {_layer(i)})"
        for m in sorted(graph.modules)
        for i in sorted(graph.find_modules_directly_imported_by(m))
        if _layer(i) > _layer(m)
    ]
    assert upward == []


def test_no_import_cycles_between_modules(graph) -> None:
    """No module imports itself through others, imports inside functions and for type checking included."""
    g = nx.DiGraph()
    for m in graph.modules:
        for i in graph.find_modules_directly_imported_by(m):
            g.add_edge(m, i)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == []


def test_no_import_cycles_between_packages(graph) -> None:
    """Subpackages depend on each other one way only (e.g. patrol uses loop, loop never uses patrol)."""
    g = nx.DiGraph()
    for m in graph.modules:
        for i in graph.find_modules_directly_imported_by(m):
            if _top(m) != _top(i):
                g.add_edge(_top(m), _top(i))
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == []


def test_no_private_name_used_from_another_module(graph) -> None:
    """``_name`` stays in its module: a helper another module needs gets a public name and a home."""
    offenders = []
    for m in graph.modules:
        for i in graph.find_modules_directly_imported_by(m):
            for detail in graph.get_import_details(importer=m, imported=i):
                text = detail["line_contents"]
                names = text.split(" import ", 1)[1] if " import " in text else ""
                private = [n.split(" as ")[0].strip(" ()") for n in names.split(",")]
                private = [n for n in private if n.startswith("_") and not n.startswith("__")]
                # a package's private module (e.g. patrol's OR-Tools backend) may be imported within the package
                same_package = i.rsplit(".", 1)[0] == m.rsplit(".", 1)[0]
                private = [n for n in private if not (same_package and i.endswith("." + n))]
                if private:
                    offenders.append(f"{m}:{detail['line_number']}: {text}")
    assert offenders == []


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_front_doors_reach_capabilities_only_through_ops(graph) -> None:
    """cli, service and province import no capability module (grids, risk, patrol, loop, maps, network, inputs,
    demo): they call gridmgmt.ops, which loads, computes, writes the files and records the run."""
    direct = [
        f"{m} imports {i}"
        for m in sorted(graph.modules)
        if _within(m, FRONT_DOORS)
        for i in sorted(graph.find_modules_directly_imported_by(m))
        if _within(i, CAPABILITIES)
    ]
    assert direct == []


def test_inputs_read_files_only(graph) -> None:
    """A District is settings + frames: inputs import neither the road network nor the store (ops adds both)."""
    reaching = [
        f"{m} imports {i}"
        for m in sorted(graph.modules)
        if _within(m, ("gridmgmt.inputs",))
        for i in sorted(graph.find_modules_directly_imported_by(m))
        if _within(i, ("gridmgmt.network", "gridmgmt.store"))
    ]
    assert reaching == []


def _imported_roots(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (inside functions and TYPE_CHECKING blocks too)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_store_speaks_sql() -> None:
    """Every SQL statement and table definition is in gridmgmt/store/: no other module imports SQLAlchemy
    (or Alembic, GeoAlchemy); the others pass the engine along as ``gridmgmt.store.engine.Engine``."""
    sql = {"sqlalchemy", "alembic", "geoalchemy2"}
    outside = [
        f"{path.relative_to(PACKAGE.parent)} imports {', '.join(sorted(_imported_roots(path) & sql))}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE.parent)).startswith("gridmgmt/store/") and _imported_roots(path) & sql
    ]
    assert outside == []


def test_only_ops_and_store_open_the_store_or_record_runs() -> None:
    """``open_store(`` and ``write_run(`` are called in gridmgmt/ops/ and gridmgmt/store/ only."""
    calls = re.compile(r"\b(open_store|write_run)\(")
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE.parent)).startswith(STORE_OWNERS)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if calls.search(line) and not line.lstrip().startswith(("def ", "#"))
    ]
    assert outside == []
