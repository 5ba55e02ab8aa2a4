"""The service's live view of the store: incremental reads see every committed event, tasks stay equal to a rebuild."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from service_fixtures import TODAY, service_store, small_district, template_store  # noqa: F401

from gridmgmt.loop.tasks import task_table
from gridmgmt.service.accounts import User
from gridmgmt.service.live import LiveDistrict
from gridmgmt.store.schema import events

OFFICER = User("officer1", "monopoly", "Z01")


def _row(seq: int, event_id: str, retailer_id: str, time: str, kind: str) -> dict:
    return {
        "seq": seq,
        "event_id": event_id,
        "retailer_id": retailer_id,
        "time": pd.Timestamp(time).to_pydatetime(),
        "type": kind,
        "department": "monopoly" if kind == "inspection" else "public",
        "content_hash": event_id,
        "recorded_at": pd.Timestamp(time).to_pydatetime(),
    }


def test_an_event_committed_after_a_higher_seq_is_still_read(small_district, service_store) -> None:  # noqa: F811
    """PostgreSQL may commit seq n+1 before seq n: the view asks for the skipped number again and finds it."""
    live = LiveDistrict(small_district, service_store, today=TODAY)
    before = len(live.events())
    with service_store.engine.begin() as conn:
        top = conn.execute(sa.select(sa.func.max(events.c.seq))).scalar_one()
        retailer = conn.execute(sa.select(events.c.retailer_id).limit(1)).scalar_one()
        conn.execute(events.insert(), [_row(top + 2, "LATE-2", retailer, f"{TODAY}T09:00", "tip_off")])
    assert len(live.events()) == before + 1
    with service_store.engine.begin() as conn:  # the slow transaction commits now, with the lower number
        conn.execute(events.insert(), [_row(top + 1, "LATE-1", retailer, f"{TODAY}T08:00", "complaint")])
    log = live.events()
    assert {"LATE-1", "LATE-2"} <= set(log["event_id"]) and len(log) == before + 2
    assert log["time"].is_monotonic_increasing
    assert {"LATE-1", "LATE-2"} <= set(live.tasks()["task_id"])  # the back-dated event made the tasks rebuild


def test_live_tasks_equal_a_rebuild_after_every_recorded_event(small_district, service_store) -> None:  # noqa: F811
    """Tip-offs, inspections and visits recorded one by one: the live task table equals task_table over the log."""
    live = LiveDistrict(small_district, service_store, today=TODAY)
    owners = live.owners()
    mine = sorted(owners.loc[owners["grid_id"] == "1", "retailer_id"])[:3]
    manager = User("cm1", "marketing", "M01")  # the customer manager of grid 1
    steps = [
        (OFFICER, {"type": "tip_off", "retailer_id": mine[0]}),
        (OFFICER, {"type": "inspection", "outcome": "ok", "retailer_id": mine[1]}),
        (manager, {"type": "marketing_report", "retailer_id": mine[1]}),
        (OFFICER, {"type": "inspection", "outcome": "violation", "severity": "minor", "retailer_id": mine[0]}),
        (manager, {"type": "visit", "retailer_id": mine[2]}),
        (OFFICER, {"type": "inspection", "outcome": "ok", "retailer_id": mine[1]}),
    ]
    tables = []
    for user, fields in steps:
        live.record(user, fields)
        got = live.tasks()
        tables.append(got)
        as_of = pd.Timestamp(TODAY) + pd.Timedelta(days=1)
        want = task_table(live.events(), as_of=as_of, settings=small_district.settings, owners=owners)
        due_today = (want["status"] == "overdue") & (want["deadline"] >= pd.Timestamp(TODAY))
        want.loc[due_today, "status"] = "open"
        pd.testing.assert_frame_equal(
            got.sort_values("task_id").reset_index(drop=True),
            want.sort_values("task_id").reset_index(drop=True),
            check_dtype=False,
        )
    assert tables[4] is tables[3]  # a visit changes no task: the same table, so cached views stay valid
    mine_now = live.tasks().loc[lambda t: t["retailer_id"].isin(mine[:2])].sort_values("opened")
    assert mine_now["status"].tail(2).tolist() == ["closed", "closed"]  # both new tasks closed by inspections


def test_today_map_follows_the_published_streets(small_district, service_store) -> None:  # noqa: F811
    """A published plan with a routes layer: the pair gets its own squad's street line as [lat, lon] points."""
    import geopandas as gpd
    from shapely.geometry import LineString

    from gridmgmt.service.live import PLAN_KIND

    routes = gpd.GeoDataFrame(
        {"squad_id": ["G01", "G02"], "travel_mode": ["walk", "walk"], "visits": [5, 5]},
        geometry=[LineString([(106.70, 26.57), (106.71, 26.58), (106.72, 26.58)]), LineString([(1, 2), (3, 4)])],
        crs="EPSG:4326",
    )
    stops = pd.DataFrame({"squad_id": ["G01"], "seq": [1], "retailer_id": ["x"], "lon": [106.71], "lat": [26.58]})
    service_store.write_run(PLAN_KIND, {"stops": stops, "routes": routes}, parameters={"date": TODAY})
    live = LiveDistrict(small_district, service_store, today=TODAY)
    assert live.route_line_for(OFFICER) == [[26.57, 106.7], [26.58, 106.71], [26.58, 106.72]]
    assert live.route_line_for(User("nobody", "monopoly", "Z99")) == []
