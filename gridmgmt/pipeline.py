"""Wires inputs -> grids -> risk -> patrol -> outputs; used by the CLI and the notebooks."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rich.console import Console

from gridmgmt import io
from gridmgmt._errors import InputError, Problem
from gridmgmt.grids.build import build_grids
from gridmgmt.grids.grid_map import grid_map
from gridmgmt.grids.plan import GridPlan, read_grid_plan, write_grid_plan
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
    with open_store(store, create=True) as shared:
        if not shared.is_initialised():
            step("loading the inputs and the event log into the shared store (once)")
            shared.init_district(district, events_source=str(district.settings.path("events")))
    written.append(store)
    written.append(io.write_csv(_inputs_summary(district), out / "inputs_summary.csv"))
    step("inputs stored")

    as_of = first_planning_day(district)
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


def first_planning_day(district: District) -> str:
    """The first day to plan (YYYY-MM-DD): the day after the history ends (district.toml ``history_end``),
    else the day after the last event, else today (a new district without history)."""
    end = district.settings.history_end
    if not end and len(district.events):
        end = str(pd.to_datetime(district.events["time"]).max().date())
    if not end:
        return date.today().isoformat()
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


def _stored_store(store: str | Path | None) -> str | None:
    """``store`` when it names an existing store (a SQLite file that exists, or a server URL), else None.

    Reading the current grids must not create an empty store as a side effect.
    """
    if not store:
        return None
    text = str(store)
    if "://" in text and not text.startswith("sqlite:"):
        return text
    path = Path(text.removeprefix("sqlite:///")).expanduser()
    return text if path.is_file() else None


def current_grids(district_path: str | Path, store: str | Path | None = None) -> GridPlan | None:
    """The district's current grids: its last ``grids build`` or the store's last published grids, the newer.

    The build is ``<district folder>/out/grids/grids.gpkg``; the store's is its newest ``grids`` run
    (the demo's build, a grid plan published by the service). Returns None when there is neither.

    Parameters
    ----------
    district_path
        The district.toml.
    store
        The shared store (path or URL); a store that does not exist yet is not created.
    """
    built = Path(district_path).resolve().parent / "out" / "grids" / "grids.gpkg"
    plan = read_grid_plan(built) if built.is_file() else None
    built_at = datetime.fromtimestamp(built.stat().st_mtime) if plan is not None else None
    existing = _stored_store(store)
    if existing is None:
        return plan
    with open_store(existing) as shared:
        runs = shared.list_runs("grids")
        if runs.empty:
            return plan
        created = pd.Timestamp(runs["created"].iloc[0])
        created = created.tz_convert(None) if created.tzinfo is not None else created  # as local naive time
        if built_at is not None and built_at >= created:
            return plan
        run = shared.read_run(runs["run_id"].iloc[0])
    grids = gpd.GeoDataFrame(run.layers["grids"], geometry="geometry", crs="EPSG:4326")
    assignment = pd.DataFrame(run.layers["assignment"])[["retailer_id", "grid_id"]]
    return GridPlan(grids=grids, assignment=assignment, district=str(district_path))


def no_grids_error(district_path: str | Path) -> InputError:
    """The error of a command that needs grids when the district has none yet."""
    return InputError(
        Problem(
            file=str(district_path),
            message="no grids yet",
            hint=f"run `gridmgmt grids build --district {district_path}` first (or give --grids DIR)",
        )
    )


def has_own_grids(district: District) -> bool:
    """Whether the district's own tables assign grids: a filled ``grid_id`` of staff (as the demo's) or retailers."""
    return any(
        "grid_id" in table.columns and bool(table["grid_id"].notna().any())
        for table in (district.staff, district.retailers)
    )


def pair_gaps(grids: pd.DataFrame, staff: pd.DataFrame) -> dict[str, list]:
    """Grids without a full staff pair and staff pairs without a grid, from a grid plan's pair columns.

    Parameters
    ----------
    grids
        A grid plan's grids (``grid_id``, ``customer_manager``, ``monopoly_officer``); a plan without
        these columns (written before pairs were matched) gives no gaps.
    staff
        The district's staff table.

    Returns
    -------
    dict
        ``grids_without_pair``: ids of the grids lacking a customer manager or a monopoly officer;
        ``pairs_without_grid``: the pairs (``"M05+Z05"``, a missing member as ``?``) serving no grid.
    """
    from gridmgmt.grids.pairs import form_pairs

    members = ("customer_manager", "monopoly_officer")
    if not {"grid_id", *members} <= set(grids.columns):
        return {"grids_without_pair": [], "pairs_without_grid": []}
    ids = grids[list(members)].fillna("").astype(str)
    lacking = (ids == "").any(axis=1)
    serving = set(ids.to_numpy().ravel()) - {""}
    pairs = form_pairs(staff)
    idle = [
        "+".join(str(p) or "?" for p in pair)
        for pair in pairs[list(members)].itertuples(index=False)
        if not ({str(p) for p in pair} & serving)
    ]
    return {"grids_without_pair": [int(g) for g in grids.loc[lacking, "grid_id"]], "pairs_without_grid": idle}


def check_pairs(plan: GridPlan, staff: pd.DataFrame) -> list[str]:
    """Record :func:`pair_gaps` in ``plan.metrics`` and return one warning line per kind of gap (none: [])."""
    gaps = pair_gaps(plan.grids, staff)
    plan.metrics.update(gaps)
    grids, pairs = gaps["grids_without_pair"], gaps["pairs_without_grid"]
    k = len(plan.grids)
    full = k - len(grids)
    lines = []
    if grids and full:
        names = f"grid{'s' * (len(grids) > 1)} {', '.join(map(str, grids))}"
        lines.append(
            f"{len(grids)} of {k} grids have no full staff pair ({names}): nobody patrols them; add pairs to the "
            f"staff table or build {full} grids (--grids {full})"
        )
    elif grids:
        lines.append("no grid has a full staff pair: the staff table needs a customer manager and a monopoly officer")
    if pairs:
        lines.append(
            f"{len(pairs)} staff pair{'s serve' if len(pairs) != 1 else ' serves'} no grid ({', '.join(pairs)}): build "
            f"{k + len(pairs)} grids (--grids {k + len(pairs)}) to give each a grid"
        )
    return lines


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
    for line in check_pairs(plan, district.staff) + plan.metrics.get("warnings", []):
        log.warning("%s", line)
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


def pairs_valid_from(store: str | Path) -> date | None:
    """The first day of the staff pairs the store records (``store init``), None without any or without a store."""
    import sqlalchemy as sa

    from gridmgmt.store.engine import read_connection
    from gridmgmt.store.schema import pairs

    existing = _stored_store(store)
    if existing is None:
        return None
    with open_store(existing) as shared, read_connection(shared.engine, shared.label) as conn:
        return conn.execute(sa.select(sa.func.min(pairs.c.valid_from))).scalar()


def check_pairs_exist(day: str, store: str | Path) -> None:
    """Refuse a day before the store's staff pairs begin: nobody was responsible for the retailers yet.

    Raises
    ------
    InputError
        Naming the first day of the pairs and how to plan anyway.
    """
    first = pairs_valid_from(store)
    if first is None or pd.Timestamp(day).date() >= first:
        return
    raise InputError(
        Problem(
            file=str(store),
            field="date",
            value=day,
            message=f"the staff pairs are valid from {first} (the day the store was first loaded: `store init`, "
            "or the first `events add` or `events import`), so nobody was responsible before",
            hint=f"plan a day on or after {first} (--date {first}); to start them earlier, load a new store with "
            f"`gridmgmt store init --valid-from YYYY-MM-DD`",
        )
    )


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
    if store:
        check_pairs_exist(date, store)
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
