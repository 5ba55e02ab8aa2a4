"""The shared event log on SQLite and PostgreSQL: append-only, unique ids under concurrency, all-or-nothing imports."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa
import store_workers

from gridmgmt._errors import GridMgmtError, InputError, StoreError
from gridmgmt.store import new_event_id, open_store

pytestmark = pytest.mark.slow  # a PostgreSQL server or many generated requests: outside the quick loop


def _events(n: int, *, ids: bool = True, start: str = "2026-01-05T08:00") -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="7min")
    return pd.DataFrame(
        {
            "event_id": [f"E{k:07d}" for k in range(n)] if ids else "",
            "retailer_id": [f"R{k % 13}" for k in range(n)],
            "time": times.strftime("%Y-%m-%dT%H:%M"),
            "type": ["inspection", "visit", "tip_off"] * (n // 3) + ["visit"] * (n % 3),
            "department": ["monopoly", "marketing", "public"] * (n // 3) + ["marketing"] * (n % 3),
        }
    )


def test_uuid7_ids_are_time_ordered_versioned_and_unique() -> None:
    """new_event_id gives RFC 9562 version-7 UUIDs with the variant bits, sortable by time, never repeated."""
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for event_id in ids[:50]:
        prefix, hexes = event_id.split("-", 1)
        assert prefix == "G"
        assert hexes[14] == "7" and hexes[19] in "89ab"
    first, last = ids[0][2:15], ids[-1][2:15]
    assert first <= last  # the 48-bit millisecond time leads


def test_add_returns_ids_and_reads_back(store_url: str) -> None:
    """An added event gets a fresh id, keeps its fields and reads back through events_between."""
    with open_store(store_url, create=True) as store:
        added = store.add_events(_events(3, ids=False))
        assert added["event_id"].str.startswith("G-").all() and added["event_id"].is_unique
        back = store.events_between("2026-01-05", "2026-01-06")
        assert back["event_id"].tolist() == added["event_id"].tolist()
        assert back["type"].tolist() == ["inspection", "visit", "tip_off"]
        assert back["time"].iloc[1] == pd.Timestamp("2026-01-05T08:07")
        assert store.events_between("2026-01-05T08:05", None, types=["tip_off"])["type"].tolist() == ["tip_off"]


def test_concurrent_writers_lose_nothing_and_never_share_an_id(store_url: str) -> None:
    """4 processes x 60 appends at once: every acknowledged event is in the log exactly once, ids unique."""
    open_store(store_url, create=True).close()  # create the schema once, as `store init` would
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.starmap(store_workers.append_many, [(store_url, w, 60) for w in range(4)])
    acknowledged = [event_id for ids in results for event_id in ids]
    assert len(acknowledged) == 240
    with open_store(store_url, create=True) as store:
        log = store.events_between()
    assert log["event_id"].is_unique
    assert sorted(log["event_id"]) == sorted(acknowledged)


def test_import_killed_midway_leaves_nothing_and_the_store_opens(store_url: str) -> None:
    """SIGKILL during an import's transaction (rows already sent): none of them stay, and the store works on."""
    open_store(store_url, create=True).close()
    frame = _events(3000)
    ctx = multiprocessing.get_context("fork")
    inserted = ctx.Event()
    child = ctx.Process(target=store_workers.import_then_hang, args=(store_url, frame, inserted))
    child.start()
    try:
        assert inserted.wait(60), "the import never reached its INSERT"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
    assert child.exitcode == -signal.SIGKILL
    with open_store(store_url, create=True) as store:
        assert store.count_events() == 0
        result = store.import_events(frame, source="big.csv")
        assert len(result.added) == 3000 and store.count_events() == 3000


def test_import_is_all_or_nothing(store_url: str) -> None:
    """One bad row (unknown correction target) in an import adds nothing and names the row and field."""
    frame = _events(50)
    frame["corrects"] = ""
    frame.loc[40, "corrects"] = "E9999999"
    with open_store(store_url, create=True) as store, pytest.raises(InputError) as error:
        store.import_events(frame, source="day.csv")
    assert "day.csv, row 42, field 'corrects': corrects an event that does not exist" in str(error.value)
    with open_store(store_url, create=True) as store:
        assert store.count_events() == 0


@pytest.mark.parametrize("ids", [True, False], ids=["with ids", "without ids"])
def test_import_twice_adds_nothing_the_second_time(store_url: str, ids: bool) -> None:
    """The same file imported twice adds nothing the second time and says so (ids kept, or a content key)."""
    frame = _events(21, ids=ids)
    if not ids:
        frame.loc[20] = frame.loc[0]  # two identical rows: two events, both known again next time
    with open_store(store_url, create=True) as store:
        first = store.import_events(frame, source="f.csv")
        second = store.import_events(frame, source="f.csv")
        assert len(first.added) == 21 and first.skipped == 0
        assert len(second.added) == 0 and second.skipped == 21
        assert second.summary("f.csv") == "added 0 events from f.csv (21 already in the log)"
        assert store.count_events() == 21
        more = store.import_events(_events(25, ids=ids), source="g.csv")  # the first 20 or 21 again, and new ones
        assert (len(more.added), more.skipped) == ((4, 21) if ids else (5, 20))


def test_an_id_with_other_content_is_refused(store_url: str) -> None:
    """Importing an id the log holds with other content is an error; appending a taken id is too."""
    with open_store(store_url, create=True) as store:
        store.import_events(_events(5))
        changed = _events(5)
        changed.loc[2, "type"] = "complaint"
        with pytest.raises(InputError, match="row 4, field 'event_id': event_id already in the log with other content"):
            store.import_events(changed)
        with pytest.raises(InputError, match="event_id already in the log"):
            store.add_events(_events(1))
        assert store.count_events() == 5


def test_corrections_must_name_an_existing_earlier_event(store_url: str) -> None:
    """corrects must name an event of the log (or of the same import), other than itself and no later."""
    with open_store(store_url, create=True) as store:
        original = store.add_event(retailer_id="R1", time="2026-02-01T10:00", type="violation", department="monopoly")
        fix = store.add_event(
            retailer_id="R1",
            time="2026-02-01T12:00",
            type="violation",
            department="monopoly",
            severity="minor",
            corrects=original.event_id,
        )
        assert fix.corrects == original.event_id
        for corrects, time, message in (
            ("G-nope", "2026-02-02T10:00", "corrects an event that does not exist"),
            (original.event_id, "2026-01-31T10:00", "corrects a later event"),
        ):
            with pytest.raises(InputError, match=message):
                store.add_event(retailer_id="R1", time=time, type="violation", department="monopoly", corrects=corrects)
        batch = _events(2)
        batch["corrects"] = ["", "E0000000"]  # the second corrects the first, in one import
        batch.loc[1, ["retailer_id", "department"]] = batch.loc[0, ["retailer_id", "department"]].to_list()
        assert len(store.import_events(batch).added) == 2
        assert store.count_events() == 4


def test_the_log_has_no_update_or_delete_path(store_url: str) -> None:
    """The API offers no way to change an event, and the database refuses UPDATE and DELETE on the log."""
    from gridmgmt.store import SharedStore

    assert not [name for name in dir(SharedStore) if "event" in name and ("update" in name or "delete" in name)]
    with open_store(store_url, create=True) as store:
        store.add_events(_events(2))
        for sql in ("UPDATE events SET note = 'edited'", "DELETE FROM events"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
                conn.execute(sa.text(sql))
        assert store.events_between()["note"].tolist() == ["", ""]


def test_read_only_store_gives_one_line_and_loses_nothing(store_url: str, request: pytest.FixtureRequest) -> None:
    """A store without write access (SQLite mode=ro; a PostgreSQL role with SELECT only) refuses in one line."""
    with open_store(store_url, create=True) as store:
        store.add_events(_events(3))
    if store_url.startswith("postgresql"):
        server = request.getfixturevalue("pg_server")
        db = sa.make_url(store_url).database
        server.psql(db, "CREATE ROLE clerk LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO clerk")
        readonly = open_store(sa.make_url(store_url).set(username="clerk").render_as_string(hide_password=False))
    else:
        readonly = open_store(store_url, read_only=True)
    with readonly, pytest.raises(StoreError) as error:
        readonly.add_event(retailer_id="R1", time="2026-03-01T09:00", type="visit", department="marketing")
    assert isinstance(error.value, GridMgmtError)
    message = str(error.value)
    assert "\n" not in message and "nothing was written" in message
    assert "read-only" in message or "no permission" in message
    with open_store(store_url, create=True) as store:
        assert store.count_events() == 3


def test_locked_sqlite_store_gives_one_line_after_the_busy_timeout(tmp_path) -> None:
    """A writer that cannot get SQLite's lock within the busy timeout fails in one line and writes nothing."""
    path = tmp_path / "store.sqlite"
    open_store(path, create=True).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with open_store(path, busy_timeout_s=0.2) as store, pytest.raises(StoreError, match="locked by another writer"):
            store.add_event(retailer_id="R1", time="2026-03-01T09:00", type="visit", department="marketing")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with open_store(path, create=True) as store:
        assert store.count_events() == 0


def test_bad_rows_are_named(tmp_path) -> None:
    """Empty fields, bad times and unknown types are reported by row and field, nothing added."""
    frame = _events(3)
    frame.loc[0, "retailer_id"] = ""
    frame.loc[1, "time"] = "yesterday"
    frame.loc[2, "type"] = "raid"
    with open_store(tmp_path / "s.sqlite", create=True) as store:
        with pytest.raises(InputError) as error:
            store.add_events(frame, source="f.csv")
        text = [str(p) for p in error.value.problems]
        assert any("row 2, field 'retailer_id'" in t for t in text)
        assert any("row 3, field 'time'" in t for t in text)
        assert any("row 4, field 'type'" in t for t in text)
        assert store.count_events() == 0
