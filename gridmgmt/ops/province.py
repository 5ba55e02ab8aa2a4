"""A province's steps for one district: validate, risk, grids, plan, maps (``gridmgmt province``).

Each step reads the district and what the steps before it wrote under ``<out>/<district>/``,
writes its own files there (and its run into the district's store) and returns a one-line summary.
The task harness (:mod:`gridmgmt.province.tasks`) times them and turns errors into status rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from gridmgmt import io
from gridmgmt._errors import InputError
from gridmgmt.grids.plan import load_grids
from gridmgmt.inputs.district import District
from gridmgmt.loop.district_loop import responsibility
from gridmgmt.ops.district import load_district, validate_files
from gridmgmt.ops.grids import run_grids
from gridmgmt.ops.loop import write_overview, write_responsibility
from gridmgmt.ops.patrol import ONE_CORE_SEARCH, plan_patrol
from gridmgmt.ops.risk import run_risk
from gridmgmt.risk.district_risk import score_risk, violation_points
from gridmgmt.store import open_store

#: Every step, in the order a district runs them; each needs the one before it (see province/run.py).
STEPS: tuple[str, ...] = ("validate", "risk", "grids", "plan", "maps")


def district_name(district_toml: str | Path) -> str:
    """A district's name in the province: the folder holding its district.toml."""
    return Path(district_toml).resolve().parent.name


def output_store(out: Path) -> Path:
    """The province run's own store of a district, ``<out>/store.sqlite``, created on first use.

    Unlike a bureau's store (which ``store init`` makes on purpose), this one belongs to the run's
    output folder, so the steps that record runs create it.
    """
    path = out / "store.sqlite"
    open_store(path, create=True).close()
    return path


def step_validate(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Check every input file (``gridmgmt validate -d``); writes validation.txt."""
    report = validate_files(None, district=district_toml)
    lines = [f"{p.severity}: {p}" for p in report.problems] + [report.summary()]
    io.write_text("\n".join(lines) + "\n", out / "validation.txt")
    if not report.ok:
        raise InputError(report.errors)
    return f"{len(report.warnings)} warnings"


def step_risk(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Scores, hotspots and the risk map (``gridmgmt risk``), plus the violations the province map pools."""
    district = load_district(district_toml)
    scores = score_risk(district, date)
    result = run_risk(
        district,
        date,
        out / "risk",
        lang=options["lang"],
        seed=options["seed"],
        map_path=out / "risk_map.html",
        scores=scores,
        store=output_store(out),
    )
    points = violation_points(district, date)[["retailer_id", "lon", "lat", "severity"]]
    io.write_csv(points, out / "risk" / "violations.csv")
    high = int((scores["level"] == "high").sum())
    return f"{len(scores)} scored, {high} high, {len(result.hotspot_cells)} hotspot cells"


def step_grids(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Balanced grids weighted by the risk levels (as ``gridmgmt demo``); grids.gpkg and the grid map."""
    district = load_district(district_toml)
    risk = pd.read_csv(out / "risk" / "risk.csv", dtype={"retailer_id": str, "level": str})
    grids = run_grids(
        district, out / "grids", seed=options["seed"], risk=risk, map_path=out / "grid_map.html", lang=options["lang"]
    )
    balance = grids["workload_min"].max() / grids["workload_min"].min()
    return f"{len(grids)} grids, balance {balance:.3f}"


def step_plan(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """The day's joint routes (``gridmgmt patrol plan --solution-limit``): reproducible on any worker."""
    district = load_district(district_toml)
    plan, _ = plan_patrol(
        district,
        date,
        out / "patrol",
        grids=load_grids(out / "grids"),
        lang=options["lang"],
        store=output_store(out),
        seed=options["seed"],
        time_limit_s=None,
        solution_limit=options["solution_limit"],
        params=ONE_CORE_SEARCH,  # Dask runs one task per core: the solver's second worker would oversubscribe it
    )
    return f"{len(plan.stops)} visits, {len(plan.unplanned)} left for later days"


def step_maps(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """The district's overview page and responsibility tables (the maps come with risk, grids and plan)."""
    district: District = load_district(district_toml)
    scores = score_risk(district, date)
    grids = load_grids(out / "grids")
    cells = io.read_layer(out / "risk" / "hotspots.geojson")
    report = responsibility(district, as_of=date, risk=scores, grids=grids)
    write_responsibility(report, out / "responsibility")
    write_overview(
        district,
        out / "overview.html",
        as_of=date,
        risk=scores,
        grids=grids,
        hotspot_cells=cells,
        report=report,
        links={"risk_map": "risk_map.html", "grid_map": "grid_map.html"},
    )
    overdue = report.tables()["overdue_tasks"]
    return f"{len(overdue)} tasks overdue"


STEP_FUNCTIONS: dict[str, Callable[[Path, Path, str, dict], str]] = {
    "validate": step_validate,
    "risk": step_risk,
    "grids": step_grids,
    "plan": step_plan,
    "maps": step_maps,
}
