"""Wires inputs -> grids -> risk -> patrol -> outputs; used by the CLI and the notebooks."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rich.console import Console

from gridmgmt import io
from gridmgmt.grids.build import build_grids
from gridmgmt.grids.grid_map import grid_map
from gridmgmt.grids.plan import write_grid_plan
from gridmgmt.inputs.district import District, load_district
from gridmgmt.inputs.events import prepare_appended, with_violation_records
from gridmgmt.loop.district_loop import overview_page, responsibility
from gridmgmt.loop.responsibility import ResponsibilityReport
from gridmgmt.maps import save_map
from gridmgmt.patrol.plan import plan_day
from gridmgmt.patrol.sheets import plan_layers, write_plan
from gridmgmt.patrol.simulate import simulate
from gridmgmt.risk.district_risk import risk_hotspots, risk_layer, score_risk, violation_points
from gridmgmt.risk.risk_map import risk_map
from gridmgmt.store import ImportResult, SharedStore, file_hash, new_event_id, open_store

log = logging.getLogger(__name__)


def run_demo(
    district_path: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    console: Console | None = None,
    patrol_time_limit_s: float = 12.0,
    lang: str | None = None,
) -> list[Path]:
    """Run every capability on one district and write its outputs into ``out_dir``.

    Maps, sheets and the overview are labelled in ``lang`` (default the district's ``[district] lang``).
    Returns the paths written, in order.
    """
    console = console or Console(stderr=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    started = time.perf_counter()

    def step(text: str) -> None:
        console.print(f"[cyan]{time.perf_counter() - started:6.1f}s[/cyan] {text}", highlight=False)

    step("loading and validating the district")
    district = load_district(district_path)
    lang = lang or district.settings.district.lang
    step(
        f"{district.settings.name}: {len(district.retailers)} retailers, {len(district.events)} events, "
        f"{len(district.staff)} staff"
    )
    step("loading the road network")
    graph = district.graph
    step(f"road network: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")

    store = out / "store.sqlite"
    with open_store(store) as shared:
        if not shared.is_initialised():
            step("loading the inputs and the event log into the shared store (once)")
            shared.init_district(district, events_source=str(district.settings.path("events")))
    written.append(store)
    written.append(io.write_csv(_inputs_summary(district), out / "inputs_summary.csv"))
    step("inputs stored")

    as_of = _first_planning_day(district)
    step(f"risk scores as of {as_of}")
    scores = score_risk(district, as_of)
    step("balanced service grids (workload from risk levels and the road network)")
    grids = run_grids(
        district,
        out / "grids",
        seed=seed,
        risk=scores,
        map_path=out / "grid_map.html",
        lang=lang,
        store=store,
        valid_from=as_of,
    )
    written += grids.attrs["written"]
    step(f"{len(grids)} grids, max/min workload {grids['workload_min'].max() / grids['workload_min'].min():.3f}")

    step("hotspots and the risk map")
    risk = run_risk(
        district,
        as_of,
        out / "risk",
        lang=lang,
        seed=seed,
        map_path=out / "risk_map.html",
        grids=grids,
        scores=scores,
        store=store,
    )
    written += risk.written

    step(f"joint patrol routes for {as_of} (OR-Tools)")
    plan, paths = plan_patrol(
        district,
        as_of,
        out / "patrol",
        grids=grids,
        risk=scores,
        lang=lang,
        seed=seed,
        time_limit_s=patrol_time_limit_s,
        store=store,
        progress=lambda text: step(f"  {text}"),
    )
    written += paths
    step(
        f"{len(plan.stops)} visits planned for {plan.summary.shape[0]} squads, {len(plan.unplanned)} left for "
        "later days"
    )

    step("responsibility report and the managers' overview")
    report = responsibility(district, as_of=as_of, risk=scores, grids=grids)
    written += write_responsibility(report, out / "responsibility")
    written.append(
        write_overview(
            district,
            out / "overview.html",
            as_of=as_of,
            risk=scores,
            grids=grids,
            hotspot_cells=risk.hotspot_cells,
            report=report,
            links={"risk_map": "risk_map.html", "grid_map": "grid_map.html"},
            lang=lang,
        )
    )
    step("every current layer of the store as one GeoPackage (for QGIS/ArcGIS)")
    with open_store(store) as shared:
        written.append(shared.export(out / "store.gpkg")[0])
    step("done")
    return written


def _first_planning_day(district: District) -> str:
    """The day after the history ends (district.toml ``history_end``), else the day after the last event."""
    end = district.settings.history_end or str(pd.to_datetime(district.events["time"]).max().date())
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()


def _inputs_summary(district: District) -> pd.DataFrame:
    """One row per subdistrict: retailers and density (per km2)."""
    retailers = district.retailers
    if district.subdistricts is None or "subdistrict" not in retailers:
        return pd.DataFrame({"retailers": [len(retailers)]})
    areas = district.subdistricts.to_crs(district.crs)
    areas = gpd.GeoDataFrame({"subdistrict": areas["name_zh"], "area_km2": areas.area / 1e6})
    counts = retailers.groupby("subdistrict").size().rename("retailers").reset_index()
    table = areas.merge(counts, on="subdistrict", how="left").fillna({"retailers": 0})
    table["retailers_per_km2"] = (table["retailers"] / table["area_km2"]).round(1)
    table["area_km2"] = table["area_km2"].round(3)
    return pd.DataFrame(table)


# ----------------------------------------------------------------------------- risk


@dataclass
class RiskRun:
    """What :func:`run_risk` wrote and computed."""

    written: list[Path]
    scores: pd.DataFrame
    hotspot_cells: gpd.GeoDataFrame


def run_risk(
    district: District,
    as_of: str,
    out_dir: str | Path,
    *,
    lang: str | None = None,
    tiles: str = "none",
    grids: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    map_path: str | Path | None = None,
    scores: pd.DataFrame | None = None,
    store: str | Path | None = None,
) -> RiskRun:
    """Score (unless ``scores`` are given), find hotspots and draw the risk map.

    Writes risk.csv, hotspots.geojson and the map (labelled in ``lang``, default the district's
    ``[district] lang``); with ``store``, a ``risk`` run (layers ``risk`` and ``hotspots``) in the shared store.
    """
    out = Path(out_dir)
    scores = scores if scores is not None else score_risk(district, as_of)
    hot = risk_hotspots(district, as_of, seed=seed)
    retailers = district.retailers
    if grids is not None and "grid_id" in grids and "assignment" in grids.attrs:
        retailers = retailers.drop(columns="grid_id", errors="ignore").merge(
            grids.attrs["assignment"], on="retailer_id"
        )
    m = risk_map(
        retailers,
        scores,
        as_of=as_of,
        boundary=district.boundary,
        hotspot_cells=hot.cells,
        violation_points=violation_points(district, as_of),
        grids=grids,
        weights=district.settings.risk_weights,
        lang=lang or district.settings.district.lang,
        tiles=tiles,
    )
    written = [
        io.write_csv(scores, out / "risk.csv"),
        io.write_vector(hot.cells, out / "hotspots.geojson"),
        save_map(m, Path(map_path) if map_path else out / "risk_map.html"),
    ]
    if store:
        with open_store(store) as shared:
            shared.write_run(
                "risk",
                {"risk": risk_layer(district, scores), "hotspots": hot.cells},
                inputs=district_inputs(district),
                parameters={"as_of": as_of, "seed": seed},
            )
    return RiskRun(written=written, scores=scores, hotspot_cells=hot.cells)


# ----------------------------------------------------------------------------- the joint-work loop


def district_inputs(district: District) -> dict[str, str]:
    """SHA-256 of every input file the district names, for a run's provenance."""
    files = {f: district.settings.path(f) for f in dataclasses.asdict(district.settings.files)}
    return {name: file_hash(path) for name, path in files.items() if path.is_file()}


def district_store(district_path: str | Path, store: str | Path | None) -> SharedStore:
    """Open the shared store, loading the district's inputs into it on first use (``store init``).

    ``store`` is a path (an embedded SQLite file) or a ``postgresql://`` URL; None reads
    ``$GRIDMGMT_STORE``.
    """
    shared = open_store(store)
    if not shared.is_initialised():
        log.info("%s: loading the district's inputs into the store once (store init)", shared.label)
        district = load_district(district_path)
        shared.init_district(district, events_source=str(district.settings.path("events")))
    return shared


def add_events(
    district_path: str | Path,
    store_path: str | Path | None,
    new: pd.DataFrame,
    *,
    file: str,
    derive_violations: bool = False,
    recorded_by: str = "",
) -> pd.DataFrame:
    """Validate ``new`` events and append them to the shared store's log in one transaction.

    Only the store is read (its retailer ids and the events of the retailers named), never the
    district's whole history. Blank ids get UUIDv7 ids. With ``derive_violations``, an inspection
    with outcome ``violation`` also records the violation event (see
    :func:`gridmgmt.inputs.events.with_violation_records`).

    Raises
    ------
    InputError
        Naming the row and field of every bad value; nothing is added then.
    """
    with district_store(district_path, store_path) as shared:
        frame = new.copy()
        if "event_id" not in frame.columns:
            frame.insert(0, "event_id", "")
        blank = frame["event_id"].fillna("").astype(str).str.strip() == ""
        frame.loc[blank, "event_id"] = [new_event_id() for _ in range(int(blank.sum()))]
        named = frame["retailer_id"].dropna().astype(str).unique().tolist() if "retailer_id" in frame else []
        prior = shared.events_between(retailer_ids=named)
        events = prepare_appended(frame, prior, file=file, retailer_ids=shared.retailer_ids())
        if derive_violations:
            events = with_violation_records(events)
        return shared.add_events(events, source=file, recorded_by=recorded_by)


def import_events(district_path: str | Path, store_path: str | Path | None, file: str | Path) -> ImportResult:
    """Import an events file into the shared store: all or nothing, and a second import adds nothing."""
    with district_store(district_path, store_path) as shared:
        return shared.import_events(io.read_table(file), source=str(file))


def write_responsibility(report: ResponsibilityReport, out_dir: str | Path) -> list[Path]:
    """Write every table of a responsibility report as CSV into ``out_dir``."""
    out = Path(out_dir)
    return [io.write_csv(table, out / f"{name}.csv") for name, table in report.tables().items()]


def write_overview(district: District, out_path: str | Path, **options) -> Path:
    """Write the managers' overview page (options: :func:`gridmgmt.loop.district_loop.overview_page`)."""
    return io.write_text(overview_page(district, **options), out_path)


# ----------------------------------------------------------------------------- grids


def run_grids(
    district: District,
    out_dir: str | Path,
    *,
    seed: int = 0,
    risk: pd.DataFrame | None = None,
    map_path: str | Path | None = None,
    lang: str | None = None,
    store: str | Path | None = None,
    valid_from: str | None = None,
) -> gpd.GeoDataFrame:
    """Build the grids, write grids.gpkg (and CSVs) and the grid map; with ``store``, a ``grids`` run.

    The map is labelled in ``lang`` (default the district's ``[district] lang``).

    With ``valid_from`` (YYYY-MM-DD) the run's assignment also becomes the store's current grid
    assignment from that day.

    Returns the grid polygons with ``attrs["assignment"]`` (retailer_id, grid_id) and
    ``attrs["written"]`` (paths written).
    """

    out = Path(out_dir)
    level = risk.set_index("retailer_id")["level"] if risk is not None else None
    plan = build_grids(district, seed=seed, risk_level=level)
    written = list(write_grid_plan(plan, out).values())
    if map_path is not None:
        written.append(save_map(grid_map(plan, district, lang=lang or district.settings.district.lang), map_path))
    if store:
        with open_store(store) as shared:
            shared.write_run(
                "grids",
                {"grids": plan.grids, "assignment": plan.assignment},
                inputs=district_inputs(district),
                parameters={"seed": seed, "k": len(plan.grids)},
                assignment_from=valid_from,
            )
    grids = plan.as_frame()
    grids.attrs["written"] = written
    return grids


# ----------------------------------------------------------------------------- patrol


def plan_patrol(
    district: District,
    date: str,
    out_dir: str | Path,
    *,
    grids: gpd.GeoDataFrame | None = None,
    risk: pd.DataFrame | None = None,
    lang: str | None = None,
    store: str | Path | None = None,
    **options,
):
    """Plan one day (:func:`gridmgmt.patrol.plan.plan_day`) and write its files; returns (plan, paths).

    Route sheets and the map are labelled in ``lang`` (default the district's ``[district] lang``).

    With ``store``, the plan is also kept there as a ``plan`` run (stops and routes).
    """
    risk = risk if risk is not None else score_risk(district, date)
    plan = plan_day(district, date, risk=risk, grids=grids, **options)
    written = write_plan(plan, out_dir, depots=district.depots, lang=lang or district.settings.district.lang)
    if store:
        with open_store(store) as shared:
            parameters = {"date": date, **{k: v for k, v in options.items() if isinstance(v, int | float | str)}}
            shared.write_run("plan", plan_layers(plan), inputs=district_inputs(district), parameters=parameters)
    return plan, written


def run_simulation(district: District, start: str, days: int, out_dir: str | Path, **options):
    """Simulate ``days`` working days of patrols; write the daily table, task outcomes and blind spots."""

    report = simulate(district, start, days, **options)
    out = Path(out_dir)
    written = [
        io.write_csv(report.daily, out / "daily.csv"),
        io.write_csv(report.tasks, out / "tasks.csv"),
        io.write_csv(report.blind_spots, out / "blind_spots.csv"),
        io.write_text(report.summary() + "\n", out / "summary.txt"),
    ]
    return report, written
