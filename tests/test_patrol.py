"""Tests of the daily patrol planner: squads, plan_day, route sheets, files, map, simulation.

One small generated district (400 retailers, 120 days of history) is shared by the module;
plans use four squads and a solution limit of 1 (deterministic: no wall-clock limit).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from gridmgmt._errors import InputError
from gridmgmt.config import Settings, minutes_of_day
from gridmgmt.patrol.plan import NoSquadsError, PlanOptions, check_plan, plan_day
from gridmgmt.patrol.squads import build_squads, slower_mode

SQUADS = ["G01", "G03", "G09", "G12"]
#: Four squads, a solution limit of 1 and no wall-clock limit: deterministic plans.
OPTIONS = PlanOptions(squads=tuple(SQUADS), time_limit_s=None, solution_limit=1, seed=0)
HOSTILE = "<script>alert('x')</script>坏店"
DAY = "2026-12-01"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """A small demo district with a hostile shop name, an overdue tip-off and an evening-only shop with one."""
    from gridmgmt.demo import generate_demo
    from gridmgmt.ops.district import load_district

    paths = generate_demo(tmp_path_factory.mktemp("small"), n_retailers=400, history_days=120)
    d = load_district(paths["district"])
    retailers = d.retailers.copy()
    ids = retailers["retailer_id"].tolist()
    hostile, evening = ids[0], ids[1]
    retailers.loc[retailers["retailer_id"] == hostile, "name"] = HOSTILE
    retailers.loc[retailers["retailer_id"] == evening, ["open_time", "close_time"]] = ["19:00", "23:30"]
    extra = pd.DataFrame(
        {
            "event_id": ["T-HOSTILE", "T-EVENING"],
            "retailer_id": [hostile, evening],
            "time": pd.to_datetime(["2026-11-20T10:00", "2026-11-20T10:00"]).astype(d.events["time"].dtype),
            "type": ["tip_off", "tip_off"],
            "department": ["public", "public"],
            "note": ["<b>bold</b> tip", "evening tip"],
        }
    )
    events = pd.concat([d.events, extra], ignore_index=True).fillna({"outcome": "", "severity": ""})
    d = dataclasses.replace(d, retailers=retailers, events=events)
    d.hostile_id, d.evening_id = hostile, evening  # type: ignore[attr-defined]
    return d


@pytest.fixture(scope="module")
def plan(district):
    return plan_day(district, DAY, options=OPTIONS)


def _staff() -> pd.DataFrame:
    rows = []
    for g, (mk, mo) in {1: ("ebike", "ebike"), 2: ("ebike", "car"), 3: ("walk", "car")}.items():
        rows.append({"staff_id": f"M{g}", "name": f"m{g}", "department": "marketing", "grid_id": g})
        rows[-1].update(depot="D1", travel_mode=mk, shift_start="08:30", shift_end="17:30")
        rows.append({"staff_id": f"Z{g}", "name": f"z{g}", "department": "monopoly", "grid_id": g})
        rows[-1].update(depot="D2", travel_mode=mo, shift_start="09:00", shift_end="")
    return pd.DataFrame(rows).astype({"grid_id": "Int64"})


def test_squads_pair_grids_with_slower_mode_shift_intersection_and_officer_depot():
    """Each grid's pair becomes one squad: slower mode, later start, earlier end, the officer's depot."""
    roster = build_squads(_staff(), Settings())
    assert [s.squad_id for s in roster.squads] == ["G01", "G02", "G03"]
    g2 = roster.squads[1]
    assert g2.travel_mode == "ebike" and roster.squads[2].travel_mode == "walk"
    assert (g2.shift_start_min, g2.shift_end_min) == (minutes_of_day("09:00"), minutes_of_day("17:30"))
    assert g2.depot == "D2" and g2.members == ("M2", "Z2")
    assert g2.lunch_latest_start_min == minutes_of_day("13:30") - 60
    assert slower_mode("car", "walk") == "walk"


def test_absent_member_drops_the_squad_and_subsets_and_unknown_ids_are_checked():
    """One member absent: no squad for that grid (with the reason); subsets work; unknown ids raise."""
    roster = build_squads(_staff(), Settings(), absent=["Z2"])
    assert [s.squad_id for s in roster.squads] == ["G01", "G03"]
    assert roster.uncovered[0][0] == 2 and "Z2" in roster.uncovered[0][1]
    assert [s.squad_id for s in build_squads(_staff(), Settings(), squads=["G03", 1]).squads] == ["G01", "G03"]
    with pytest.raises(InputError, match="unknown"):
        build_squads(_staff(), Settings(), absent=["NOBODY"])


def test_every_planned_time_recomputes_from_the_matrix(plan):
    """Arrivals, windows, service times, shifts, lunch and no double visit all check out against the matrices."""
    assert len(plan.stops) > 0
    assert check_plan(plan) == []
    assert not plan.stops["retailer_id"].duplicated().any()


def test_no_stop_at_a_closed_shop_or_outside_the_shift(plan, district):
    """Service starts after opening and ends by closing, and every squad works within 08:30-17:30."""
    shops = district.retailers.set_index("retailer_id")
    for s in plan.stops.itertuples():
        opening, closing = minutes_of_day(shops.loc[s.retailer_id, "open_time"]), shops.loc[s.retailer_id, "close_time"]
        close_min = minutes_of_day(closing) if minutes_of_day(closing) > opening else 24 * 60
        assert opening <= minutes_of_day(s.start) and minutes_of_day(s.departure) <= close_min
        assert minutes_of_day(s.departure) - minutes_of_day(s.start) == pytest.approx(s.service_min, abs=1)
    used = plan.summary.loc[plan.summary["visits"] > 0]
    assert (used["leave"] >= "08:30").all() and (used["back"] <= "17:30").all()


def test_lunch_is_taken_within_its_window(plan):
    """Every squad that goes out takes a full hour of lunch inside 11:30-13:30."""
    used = plan.summary.loc[plan.summary["visits"] > 0]
    assert len(used) > 0
    for lunch in used["lunch"]:
        start, end = lunch.split("-")
        assert start >= "11:30" and end <= "13:30"
        assert minutes_of_day(end) - minutes_of_day(start) == 60


def test_mandatory_visits_are_planned_or_reported_with_a_reason(plan, district):
    """The overdue tip-off is planned; the evening-only shop's one is reported as not open during the shift."""
    mandatory = plan.candidates.loc[plan.candidates["mandatory"], "retailer_id"]
    planned, unplanned = set(plan.stops["retailer_id"]), plan.unplanned.set_index("retailer_id")
    for rid in mandatory:
        assert rid in planned or unplanned.loc[rid, "reason"]
    assert district.hostile_id in planned
    assert "not open" in unplanned.loc[district.evening_id, "reason"]
    assert plan.unplanned["reason"].str.len().gt(0).all()


def test_the_same_request_gives_the_same_plan(plan, district):
    """Under a solution limit the plan is deterministic; options given as keywords plan the same day."""
    again = plan_day(district, DAY, squads=SQUADS, time_limit_s=None, solution_limit=1, seed=0)
    pd.testing.assert_frame_equal(again.stops, plan.stops)
    pd.testing.assert_frame_equal(again.unplanned, plan.unplanned)


def test_plan_options_are_frozen_and_keywords_override_them():
    """PlanOptions is immutable (lists become tuples); keyword overrides must name one of its fields."""
    options = PlanOptions(squads=["G01", 3], absent=iter(["M1"]))
    assert options.squads == ("G01", 3) and options.absent == ("M1",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="no_such_option"):
        plan_day(None, DAY, options=options, no_such_option=1)


def test_grid_assignment_gives_each_visit_a_home_squad(district):
    """With a grid assignment, candidates belong to their grid's squad and the plan stays valid."""
    ids = district.retailers["retailer_id"]
    grids = pd.DataFrame({"retailer_id": ids, "grid_id": [(1, 3, 9, 12)[i % 4] for i in range(len(ids))]})
    plan = plan_day(district, DAY, grids=grids, options=OPTIONS)
    assert set(plan.candidates["home_squad"]) <= set(SQUADS) and plan.candidates["home_squad"].ne("").all()
    assert check_plan(plan) == []


def test_bad_requests_fail_clearly(district):
    """No squad available, or a day inside the event history, raise errors that say so."""
    everyone = district.staff["staff_id"].tolist()
    with pytest.raises(NoSquadsError, match="no squad"):
        plan_day(district, DAY, absent=everyone, solution_limit=1)
    with pytest.raises(InputError, match="already past"):
        plan_day(district, "2026-11-02", squads=SQUADS, solution_limit=1)


def test_route_sheets_escape_hostile_text_one_page_per_squad(plan):
    """A <script> shop name and HTML in notes stay text; each squad gets its own printable page."""
    from gridmgmt.patrol.sheets import route_sheets_html

    for lang, word in (("zh", "联合巡查路线单"), ("en", "Joint patrol route sheet")):
        page = route_sheets_html(plan, lang=lang)
        assert "<script>" not in page and "&lt;script&gt;" in page
        assert "<b>bold</b>" not in page
        assert page.count('class="sheet"') == len(plan.summary) + 1  # + the unplanned page
        assert word in page and "break-after: page" in page


def test_write_plan_writes_everything_and_a_failure_keeps_the_earlier_plan(plan, district, tmp_path, monkeypatch):
    """All files and the store layers appear; when rendering fails, the earlier files stay as they were."""
    from gridmgmt.patrol import route_map as patrol_map
    from gridmgmt.patrol.sheets import plan_layers, write_plan

    written = write_plan(plan, tmp_path, depots=district.depots)
    names = {p.name for p in written}
    assert {"stops.csv", "unplanned.csv", "routes.geojson", "route_sheets.html", "route_map.html"} <= names
    layers = plan_layers(plan)
    assert len(layers["patrol_stops"]) == len(plan.stops) and (layers["patrol_stops"]["date"] == plan.date).all()
    assert set(layers["patrol_routes"]["squad_id"]) == set(plan.stops["squad_id"])
    stops = pd.read_csv(tmp_path / "stops.csv", dtype=str, encoding="utf-8-sig")
    assert list(stops["retailer_id"]) == list(plan.stops["retailer_id"])
    routes = __import__("geopandas").read_file(tmp_path / "routes.geojson")
    assert set(routes["squad_id"]) == set(plan.stops["squad_id"])
    before = {p: p.read_bytes() for p in Path(tmp_path).iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("map failed")

    monkeypatch.setattr(patrol_map, "patrol_map", broken)
    other = dataclasses.replace(plan, stops=plan.stops.iloc[:1])
    with pytest.raises(RuntimeError, match="map failed"):
        write_plan(other, tmp_path, depots=district.depots)
    assert {p: p.read_bytes() for p in Path(tmp_path).iterdir()} == before


@pytest.mark.browser
def test_route_map_renders_offline_without_errors(plan, district, tmp_path, chromium):
    """The route map opens in headless Chromium with routes drawn, no console error and no external request."""
    from gridmgmt.maps import save_map
    from gridmgmt.patrol.route_map import patrol_map

    path = save_map(patrol_map(plan, district.depots.drop(columns="geometry", errors="ignore")), tmp_path / "m.html")
    facts = chromium.open(path, wait_for="path.leaflet-interactive")
    assert facts.console_errors == [] and facts.page_errors == []
    assert facts.external_requests == [] and facts.xss_calls == []
    assert facts.counts["paths"] >= len(plan.routes)


def test_simulation_marks_visits_done_and_reports_coverage(district):
    """Two simulated days: day-1 visits close their tasks and the report has its measures."""
    from gridmgmt.patrol.simulate import simulate

    report = simulate(district, DAY, days=2, squads=SQUADS, time_limit_s=None, solution_limit=1, seed=1)
    assert list(report.daily["date"]) == ["2026-12-01", "2026-12-02"]
    sim = report.events.loc[report.events["event_id"].astype(str).str.startswith("SIM-")]
    assert len(sim) == report.daily["planned"].sum() and (sim["outcome"] == "ok").all()
    hostile = report.tasks.set_index("event_id").loc["T-HOSTILE"]
    assert hostile["status"] == "late_at_start" and pd.notna(hostile["visited"])
    assert 0.0 <= report.within_cycle_end <= 1.0 and 0.0 <= report.deadlines_met <= 1.0
    assert "within cycle" in report.summary()


def _strip_grids(district, grid_ids=(1, 3, 9, 12), *, pin=None):
    """Grid polygons as north-south strips by longitude, one per grid, with the assignment in attrs.

    ``pin`` maps retailer ids to a grid regardless of where they lie.
    """
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import box

    r = district.retailers
    edges = np.quantile(r["lon"], np.linspace(0, 1, len(grid_ids) + 1))
    south, north = r["lat"].min() - 0.01, r["lat"].max() + 0.01
    polygons = [box(edges[i], south, edges[i + 1], north) for i in range(len(grid_ids))]
    grids = gpd.GeoDataFrame({"grid_id": list(grid_ids)}, geometry=polygons, crs="EPSG:4326")
    strip = np.searchsorted(edges[1:-1], r["lon"].to_numpy(), side="right")
    assignment = pd.DataFrame({"retailer_id": r["retailer_id"], "grid_id": np.asarray(grid_ids)[strip]})
    for rid, g in (pin or {}).items():
        assignment.loc[assignment["retailer_id"] == rid, "grid_id"] = g
    grids.attrs["assignment"] = assignment
    return grids


def _check_cross_grid_reasons(plan) -> pd.DataFrame:
    """Every stop outside the squad's grid names the grid it covers and why; returns those stops."""
    squad_grid = plan.summary.set_index("squad_id")["grid_id"]
    outside = plan.stops.loc[plan.stops["grid_id"] != plan.stops["squad_id"].map(squad_grid)]
    for s in outside.itertuples():
        assert s.cross_grid_reason.startswith(f"covering for grid {s.grid_id}: "), s
        if "own squad full" in s.cross_grid_reason:
            assert s.mandatory  # only a mandatory visit may leave a present squad's grid
    inside = plan.stops.drop(index=outside.index)
    assert (inside["cross_grid_reason"] == "").all()
    return outside


def test_routes_stay_in_the_own_grid_and_every_cross_grid_stop_says_why(district, tmp_path):
    """With grids, a squad leaves its grid only with a stated reason; summary, sheet and map show the grids."""
    from gridmgmt.maps import to_offline_html
    from gridmgmt.patrol.route_map import patrol_map
    from gridmgmt.patrol.sheets import route_sheets_html

    plan = plan_day(district, DAY, grids=_strip_grids(district), options=OPTIONS)
    assert len(plan.stops) and check_plan(plan) == []
    outside = _check_cross_grid_reasons(plan)
    assert len(outside) <= 0.1 * len(plan.stops)
    shares = plan.summary.set_index("squad_id")["own_grid_share"]
    assert shares.between(0, 1).all() and plan.summary["own_grid_stops"].sum() == len(plan.stops) - len(outside)
    assert "责任网格: 3" in route_sheets_html(plan, lang="zh") and "Own grid: 3" in route_sheets_html(plan, lang="en")
    page = to_offline_html(patrol_map(plan, district.depots.drop(columns="geometry", errors="ignore"), lang="en"))
    assert "Grid boundaries" in page and plan.grids is not None and len(plan.grids) == 4


def test_an_absent_squads_mandatory_visits_are_covered_by_neighbours_with_the_reason(district):
    """Grid 3's squad is absent: its overdue tip-off is planned by another squad, saying whom it covers for."""
    from gridmgmt.patrol.sheets import route_sheets_html

    grids = _strip_grids(district, pin={district.hostile_id: 3})
    plan = plan_day(district, DAY, grids=grids, options=dataclasses.replace(OPTIONS, absent=("G03",)))
    assert "G03" not in set(plan.stops["squad_id"])
    _check_cross_grid_reasons(plan)
    hostile = plan.stops.set_index("retailer_id").loc[district.hostile_id]
    assert hostile["cross_grid_reason"] == "covering for grid 3: squad absent"
    grid3 = plan.candidates.loc[plan.candidates["mandatory"] & (plan.candidates["grid_id"] == 3), "retailer_id"]
    planned = plan.stops.set_index("retailer_id")
    for rid in grid3:
        assert rid in plan.unplanned["retailer_id"].values or planned.loc[rid, "cross_grid_reason"].endswith("absent")
    assert "代管第3网格：该组缺勤" in route_sheets_html(plan)
