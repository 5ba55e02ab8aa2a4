"""One validator for events: add, import and the service accept and refuse the same input, on both backends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gridmgmt._errors import InputError
from gridmgmt.store import open_store
from gridmgmt.store.validate import MAX_CHARS, check_columns, check_time

GOOD = {"retailer_id": "R1", "time": "2026-03-02T09:30", "type": "inspection", "department": "monopoly"}
# one bad field per case -> the one line every path must give for it
BAD = [
    ({"severity": "bogus_sev"}, "field 'severity': unknown value (value: 'bogus_sev'). use one of: minor"),
    (
        {"outcome": "bogus_outcome"},
        "field 'outcome': unknown value (value: 'bogus_outcome'). use one of: ok, violation",
    ),
    ({"event_id": "E" * 100}, "field 'event_id': 100 characters, more than 80"),
    ({"retailer_id": "R" * 65}, "field 'retailer_id': 65 characters, more than 64"),
    ({"note": "before\x00after"}, "field 'note': contains the control character '\\x00'"),
    ({"time": "2026-03-02T09:30+08:00"}, "field 'time': has a time zone (value: '2026-03-02T09:30+08:00')"),
    ({"time": "2026/03/02 09:30"}, "field 'time': not a time"),
    ({"type": "raid"}, "field 'type': unknown value (value: 'raid')"),
]


def _store(url: str):
    return open_store(url, create=True)


def _refusals(action) -> list[str]:
    with pytest.raises(InputError) as error:
        action()
    return [str(p) for p in error.value.problems]


@pytest.mark.parametrize(("bad", "line"), BAD, ids=[next(iter(b)) + str(i) for i, (b, _) in enumerate(BAD)])
def test_add_import_and_the_service_refuse_alike(tmp_path: Path, bad: dict, line: str) -> None:
    """The store's append (service, add) and import paths give the same one line; nothing stored."""
    with _store(str(tmp_path / "s.sqlite")) as store:
        frame = pd.DataFrame([GOOD, {**GOOD, **bad}])
        imported = _refusals(lambda: store.import_events(frame, source="f.csv"))
        recorded = _refusals(lambda: store.add_records(frame.to_dict("records"), source="f.csv"))
        assert imported == recorded
        assert len(imported) == 1 and imported[0].startswith("f.csv, row 3, " + line)
        assert store.count_events() == 0


def test_import_takes_the_chinese_type_add_takes(tmp_path: Path) -> None:
    """`--type 检查` (vocab's alias) is taken by import as by add, stored as inspection."""
    with _store(str(tmp_path / "s.sqlite")) as store:
        frame = pd.DataFrame([{**GOOD, "type": "检查", "department": "专卖", "severity": "Minor"}])
        added = store.import_events(frame, source="f.csv").added
        assert added[["type", "department", "severity"]].iloc[0].tolist() == ["inspection", "monopoly", "minor"]
        recorded = store.add_records([{**GOOD, "type": "检查", "department": "专卖"}], source="command line")
        assert recorded[0]["type"] == "inspection"


def test_a_correction_of_another_shop_says_so(tmp_path: Path) -> None:
    """Correcting another retailer's event names that retailer (not 'does not exist')."""
    with _store(str(tmp_path / "s.sqlite")) as store:
        target = store.add_records([{**GOOD, "event_id": "E0000001", "outcome": "ok"}])[0]
        fix = {**GOOD, "retailer_id": "R2", "time": "2026-03-02T10:00", "corrects": target["event_id"]}
        lines = _refusals(lambda: store.add_records([fix], source="command line"))
        assert lines == [
            "command line, row 2, field 'corrects': corrects an event of another retailer (R1) (value: 'E0000001')."
            " a correction names the retailer of the event it corrects: write R1"
        ]


def test_a_correction_stays_in_its_department(tmp_path: Path) -> None:
    """A marketing visit cannot correct a monopoly violation on any path; the officer's own correction is taken."""
    with _store(str(tmp_path / "s.sqlite")) as store:
        violation = {**GOOD, "event_id": "V1", "type": "violation", "severity": "criminal"}
        store.add_records([violation])
        visit = {**GOOD, "time": "2026-03-03T09:00", "type": "visit", "department": "marketing", "corrects": "V1"}
        assert "corrects a monopoly event as marketing" in _refusals(lambda: store.add_records([visit]))[0]
        fixed = {**violation, "event_id": "", "time": "2026-03-03T09:00", "severity": "minor", "corrects": "V1"}
        assert store.add_records([fixed])[0]["corrects"] == "V1"
        log = store.events_between()
        assert log.set_index("event_id").at["V1", "corrected_by"] != ""


@pytest.mark.parametrize(("bad", "line"), [b for b in BAD if next(iter(b[0])) in ("event_id", "note", "time")])
def test_both_backends_refuse_the_same_input_before_the_database(store_url: str, bad: dict, line: str) -> None:
    """A 100-character id, a NUL in a note and a zoned time: the same named row on SQLite and PostgreSQL."""
    with _store(store_url) as store:
        frame = pd.DataFrame([GOOD, {**GOOD, **bad}, GOOD])
        for action in (
            lambda: store.import_events(frame, source="f.csv"),
            lambda: store.add_events(frame, source="f.csv"),
        ):
            lines = _refusals(action)
            assert len(lines) == 1 and lines[0].startswith("f.csv, row 3, " + line)
        assert store.count_events() == 0


def test_a_time_zone_on_one_row_of_a_big_import_names_the_row(store_url: str) -> None:
    """One zoned time among 200 rows: one line naming it, not 'unexpected failure: Mixed timezones'."""
    times = pd.date_range("2026-01-05T08:00", periods=200, freq="7min").strftime("%Y-%m-%dT%H:%M").tolist()
    times[150] = "2026-01-05T20:00Z"
    frame = pd.DataFrame({**{k: v for k, v in GOOD.items() if k != "time"}, "time": times})
    with _store(store_url) as store:
        assert _refusals(lambda: store.import_events(frame, source="big.csv")) == [
            "big.csv, row 152, field 'time': has a time zone (value: '2026-01-05T20:00Z'). the log keeps the"
            " district's local time: write it without the zone, e.g. 2024-03-18T09:30"
        ]
        zoned = pd.DataFrame([{**GOOD, "time": pd.Timestamp("2026-03-02T09:30", tz="Asia/Shanghai")}])
        assert "has a time zone" in _refusals(lambda: store.add_events(zoned))[0]
        assert store.count_events() == 0


def test_the_limits_are_the_store_columns() -> None:
    """Lengths come from the schema (ids 80, retailer 64, words 32); times without a zone pass as datetimes."""
    assert (MAX_CHARS["event_id"], MAX_CHARS["corrects"], MAX_CHARS["retailer_id"], MAX_CHARS["type"]) == (
        80,
        80,
        64,
        32,
    )
    assert check_time("2026-03-02 09:30:15.5")[1] is None
    assert check_time(pd.Timestamp("2026-03-02T09:30"))[0] == pd.Timestamp("2026-03-02T09:30").to_pydatetime()
    checked, problems = check_columns({"retailer_id": [None, float("nan")], "type": ["Visit", "走访"]}, file="f")
    assert checked["type"] == ["visit", "visit"]
    assert [(p.row, p.field, p.message) for p in problems][:2] == [(2, "retailer_id", "empty"), (2, "time", "empty")]
