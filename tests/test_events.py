"""Tests of gridmgmt.inputs.events: loading the shared event log and every bad-input check."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from gridmgmt._errors import InputError
from gridmgmt.inputs.events import check_events, load_events

HEADER = "event_id,retailer_id,time,type,department,outcome,severity,note,corrects"
GOOD_ROWS = [
    "E1,R1,2024-03-01T09:30,inspection,monopoly,ok,,routine,",
    "E2,R2,2024-03-02T10:00,tip_off,public,,,举报: 假烟,",
    "E3,R2,2024-03-03T14:15,inspection,monopoly,violation,,found counterfeit,",
    "E4,R2,2024-03-03T14:20,violation,monopoly,,serious,counterfeit,",
    "E5,R1,2024-03-05T11:00,marketing_report,marketing,,,<b>odd orders</b>,",
    "E6,R2,2024-03-06T08:00,violation,monopoly,,minor,corrected severity,E4",
]
IDS = {"R1", "R2"}


def write(tmp_path, rows, header=HEADER, name="events.csv"):
    path = tmp_path / name
    text = "\n".join([header, *rows]) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def messages(tmp_path, rows, header=HEADER, **kwargs):
    with pytest.raises(InputError) as info:
        load_events(write(tmp_path, rows, header=header), **kwargs)
    return [str(p) for p in info.value.problems]


def test_good_log_loads_with_timestamps(tmp_path):
    """A clean gzip log loads; time becomes pandas Timestamps and notes are kept verbatim."""
    events = load_events(write(tmp_path, GOOD_ROWS, name="events.csv.gz"), retailer_ids=IDS)
    assert len(events) == 6
    assert pd.api.types.is_datetime64_any_dtype(events["time"])
    assert events["time"].iloc[0] == pd.Timestamp("2024-03-01 09:30")
    assert events["note"].iloc[4] == "<b>odd orders</b>"
    assert events["corrects"].iloc[5] == "E4"


def test_unknown_type_and_department_with_suggestion(tmp_path):
    """Unknown type and department name row, field, value and the closest allowed value."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("inspection", "inspecton")
    rows[1] = rows[1].replace("public", "pubic")
    texts = messages(tmp_path, rows)
    assert any("row 2, field 'type'" in t and "did you mean 'inspection'" in t for t in texts)
    assert any("row 3, field 'department'" in t and "'pubic'" in t and "did you mean 'public'" in t for t in texts)


def test_chinese_type_labels_accepted(tmp_path):
    """Chinese type and department labels (举报, 公众) map to the codes."""
    rows = [GOOD_ROWS[0], GOOD_ROWS[1].replace("tip_off,public", "举报,公众")]
    events = load_events(write(tmp_path, rows))
    assert events["type"].tolist() == ["inspection", "tip_off"]
    assert events["department"].iloc[1] == "public"


def test_unknown_retailer_is_error_only_when_ids_given(tmp_path):
    """An event of an unknown retailer is an error naming the row when retailer_ids is given."""
    rows = [*GOOD_ROWS, "E7,R9,2024-03-07T09:00,complaint,public,,,,"]
    texts = messages(tmp_path, rows, retailer_ids=IDS)
    assert any("row 8, field 'retailer_id': unknown retailer_id" in t and "'R9'" in t for t in texts)
    assert len(load_events(write(tmp_path, rows, name="e2.csv"))) == 7


def test_duplicate_event_id_names_both_rows(tmp_path):
    """A repeated event_id names its row and the first row."""
    rows = [*GOOD_ROWS, GOOD_ROWS[1]]
    texts = messages(tmp_path, rows)
    assert any("row 8, field 'event_id': duplicate event_id, first in row 3" in t for t in texts)


def test_bad_times(tmp_path):
    """Times that are not ISO date-times (or empty) are errors naming row and value."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("2024-03-01T09:30", "2024-02-30T09:30")
    rows[1] = rows[1].replace("2024-03-02T10:00", "03/02/2024 10:00")
    rows[2] = rows[2].replace("2024-03-03T14:15", "")
    texts = messages(tmp_path, rows)
    assert any("row 2, field 'time': not a date and time" in t and "2024-02-30" in t for t in texts)
    assert any("row 3, field 'time'" in t and "03/02/2024" in t for t in texts)
    assert any("row 4, field 'time': empty time" in t for t in texts)


def test_corrects_must_point_at_existing_earlier_event(tmp_path):
    """corrects naming a missing event, itself, or a later event is an error."""
    rows = list(GOOD_ROWS)
    rows[5] = rows[5].replace(",E4", ",E44")
    rows[4] = rows[4].replace("<b>odd orders</b>,", "x,E5")
    rows[0] = rows[0].replace("routine,", "early,E6")
    texts = messages(tmp_path, rows)
    assert any("row 7, field 'corrects': corrects an event that does not exist" in t and "'E44'" in t for t in texts)
    assert any("row 6, field 'corrects': an event cannot correct itself" in t for t in texts)
    assert any("row 2, field 'corrects': corrects a later event" in t for t in texts)


def test_outcome_and_severity_values(tmp_path):
    """Bad outcome/severity values are errors; a violation without severity is a warning only."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace(",ok,", ",fine,")
    rows[3] = rows[3].replace("serious", "grave")
    texts = messages(tmp_path, rows)
    assert any("row 2, field 'outcome'" in t and "'fine'" in t for t in texts)
    assert any("row 5, field 'severity'" in t and "'grave'" in t for t in texts)
    rows = [GOOD_ROWS[3].replace("serious", "")]
    frame = pd.read_csv(write(tmp_path, rows, name="w.csv"), dtype=str, keep_default_na=False)
    _, problems = check_events(frame, file="w.csv")
    assert [(p.row, p.field, p.severity) for p in problems] == [(2, "severity", "warning")]


def test_missing_columns_and_empty_log(tmp_path):
    """Missing columns are listed with a suggestion; a header-only log is a valid empty log."""
    texts = messages(tmp_path, GOOD_ROWS, header=HEADER.replace("department", "departmnt"))
    assert "missing column: department" in texts[0]
    assert "rename column 'departmnt' to 'department'" in texts[0]
    empty = load_events(write(tmp_path, [], name="empty.csv"))
    assert len(empty) == 0 and "time" in empty.columns


def test_many_bad_rows_are_capped(tmp_path):
    """A wholly wrong column gives 20 row problems and one 'and N more' summary, not thousands."""
    rows = [f"E{i},R1,yesterday,visit,marketing,,,," for i in range(100)]
    texts = messages(tmp_path, rows)
    time_problems = [t for t in texts if "field 'time'" in t]
    assert len(time_problems) == 21
    assert "and 80 more rows" in time_problems[-1]
