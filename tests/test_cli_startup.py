"""The small commands start quickly: they import no pandas, geopandas, OR-Tools, shapely or networkx.

Each command runs in a fresh interpreter (through typer's CliRunner) and the test looks at the
modules it loaded, so the check is structural, never timed (issue 21, item 4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridmgmt.store import open_store
from gridmgmt.store.engine import write_transaction
from gridmgmt.store.schema import retailers

HEAVY = ("pandas", "geopandas", "ortools", "shapely", "networkx", "numpy", "pyproj", "fastapi")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from gridmgmt.cli import app
args, stdin = json.loads(sys.argv[1]), sys.argv[2]
result = CliRunner().invoke(app, args, input=stdin)
print(json.dumps({"exit": result.exit_code, "output": result.output, "modules": sorted(sys.modules)}))
"""


def _run(args: list[str], stdin: str = "") -> dict:
    """Run ``gridmgmt args`` in a fresh interpreter; its exit code, output and loaded modules."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), stdin], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store holding two retailers (R1, R9) and no events yet."""
    path = tmp_path_factory.mktemp("startup") / "store.sqlite"
    with open_store(path, create=True) as shared, write_transaction(shared.engine, shared.label) as conn:
        conn.execute(retailers.insert(), [{"retailer_id": "R1"}, {"retailer_id": "R9"}])
    return path


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_help_loads_no_heavy_library() -> None:
    """`gridmgmt --help` lists every command group without loading a capability."""
    result = _run(["--help"])
    assert result["exit"] == 0
    for group in ("events", "tasks", "users", "store", "grids", "risk", "patrol", "report", "serve"):
        assert group in result["output"]
    assert _heavy(result["modules"]) == []


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["events", "add", "--type", "complaint", "--retailer", "R1", "--time", "2026-12-01T10:00"], ""),
        (["events", "list", "--from", "2026-11-01"], ""),
        (["events", "list", "--from", "2026-11-01", "--format", "csv"], ""),
        (["users", "add", "startup", "--role", "planner", "--password-stdin"], "a long password\n"),
        (["users", "list"], ""),
        (["store", "backup", "--to", "{tmp}/copy.sqlite"], ""),
        (["tasks", "list"], ""),
        (["tasks", "list", "--date", "2026-12-05", "--overdue"], ""),
        (["tasks", "list", "--date", "2026-12-05", "--all", "--out", "{tmp}"], ""),
    ],
    ids=[
        "events add",
        "events list",
        "events list csv",
        "users add",
        "users list",
        "store backup",
        "tasks list",
        "tasks list overdue",
        "tasks list all csv",
    ],
)
def test_small_commands_load_no_heavy_library(store, tmp_path, args, stdin) -> None:
    """Each small command does its work (exit 0) with none of pandas, geopandas, OR-Tools, shapely, networkx."""
    args = [a.format(tmp=tmp_path) for a in args] + ["--store", str(store)]
    result = _run(args, stdin)
    assert result["exit"] == 0, result["output"]
    assert _heavy(result["modules"]) == [], result["output"]


def test_events_add_then_list_shows_the_event_and_its_implied_violation(store) -> None:
    """The light path records an inspection's violation twice, as the log's contract says, and lists both."""
    where = ["--store", str(store)]
    inspection = ["--type", "inspection", "--outcome", "violation", "--retailer", "R9", "--time", "2026-12-02T09:30"]
    added = _run(["events", "add", *inspection, "--event-id", "E-START", *where])
    assert added["exit"] == 0, added["output"]
    listed = _run(["events", "list", "--from", "2026-12-02", "--to", "2026-12-03", "--format", "json", *where])
    rows = json.loads(listed["output"])
    assert [(r["event_id"], r["type"], r["severity"]) for r in rows] == [
        ("E-START", "inspection", ""),
        ("E-START-V", "violation", "serious"),
    ]
    assert rows[0]["time"] == "2026-12-02T09:30:00"


def test_tasks_list_writes_the_open_task_of_an_added_complaint(store, tmp_path) -> None:
    """A complaint added through the light path is a task, overdue past its 3 working days, in tasks.csv."""
    where = ["--store", str(store)]
    added = _run(["events", "add", "--type", "complaint", "--retailer", "R9", "--time", "2026-12-07T10:00",
                  "--event-id", "C-START", *where])  # fmt: skip
    assert added["exit"] == 0, added["output"]
    listed = _run(["tasks", "list", "--date", "2026-12-11", "--overdue", "--out", str(tmp_path), *where])
    assert listed["exit"] == 0, listed["output"]
    lines = (tmp_path / "tasks.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("task_id,retailer_id,type,opened,deadline,status,")
    assert [line.split(",")[:6] for line in lines[1:] if line.startswith("C-START")] == [
        ["C-START", "R9", "complaint", "2026-12-07 10:00:00", "2026-12-10", "overdue"]
    ]
    assert _heavy(listed["modules"]) == []
