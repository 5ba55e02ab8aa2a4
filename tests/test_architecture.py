"""The import layers hold and there is no import cycle, including imports inside functions."""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

# Higher layers may import lower ones, never the reverse (the README's architecture section).
LAYERS: dict[str, int] = {
    "gridmgmt.__main__": 8,
    "gridmgmt.cli": 7,
    "gridmgmt.service": 7,
    "gridmgmt.pipeline": 6,
    "gridmgmt.province": 6,
    "gridmgmt.init_district": 6,
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
    "gridmgmt.labels": 1,
    "gridmgmt._errors": 1,
    "gridmgmt": 1,
}


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
    return grimp.build_graph("gridmgmt", exclude_type_checking_imports=True)


def test_every_module_has_a_layer(graph) -> None:
    """A new top-level module or subpackage must be given its place in the layers."""
    unplaced = sorted(m for m in graph.modules if not any(m == k or m.startswith(k + ".") for k in LAYERS))
    assert unplaced == [], f"add these to LAYERS in {__file__}: {unplaced}"


def test_imports_point_down_the_layers(graph) -> None:
    """cli -> pipeline -> patrol -> loop -> grids | risk -> maps | network | inputs | store -> basics."""
    upward = [
        f"{m} (layer {_layer(m)}) imports {i} (layer {_layer(i)})"
        for m in sorted(graph.modules)
        for i in sorted(graph.find_modules_directly_imported_by(m))
        if _layer(i) > _layer(m)
    ]
    assert upward == []


def test_no_import_cycles_between_modules(graph) -> None:
    """No module imports itself through others, hidden imports inside functions included."""
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
