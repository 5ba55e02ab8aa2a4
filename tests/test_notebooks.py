"""Every notebook in notebooks/ runs top to bottom on the demo data, and is committed without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300  # per cell

# What each notebook must show: text in its outputs, files it writes under GRIDMGMT_NOTEBOOK_OUT.
EXPECTED = {
    "01_planner_grids.ipynb": (["polsby_popper_mean", "travel_error_pct"], []),
    "02_squad_leader_patrol.ipynb": (["schedule errors: none", "route_map.html"], ["patrol/stops.csv"]),
    "03_manager_risk.ipynb": (["PAI at 10% of the area", "risk_map.html"], ["risk.csv", "risk_map.html"]),
}


def _text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(output.get("text", ""))
            parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_error(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook executes on the demo data (a cell error fails the run) and shows what it is for."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("GRIDMGMT_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    # kernel python3: its argv[0] "python" is replaced by this interpreter (the venv) by jupyter_client
    client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute(cwd=str(ROOT))  # raises CellExecutionError on the first failing cell
    texts, files = EXPECTED[path.name]
    shown = _text_outputs(nb)
    for text in texts:
        assert text in shown, f"{path.name} does not show {text!r}"
    for name in files:
        assert (tmp_path / name).stat().st_size > 0, f"{path.name} did not write {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    """Outputs and execution counts are stripped, so diffs show code changes only."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name}: a cell has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: a cell has an execution count"
