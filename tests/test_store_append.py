"""Small appends take a plain-Python path (append_records): it stores and refuses what the frame path does."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from gridmgmt._errors import InputError
from gridmgmt.store import EVENT_COLUMNS, open_store
from gridmgmt.store.eventframes import SMALL_APPEND
from gridmgmt.store.schema import events

STORED = (*(c for c in EVENT_COLUMNS if c != "event_id"), "extra", "content_hash")


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"E{k:03d}" for k in range(n)],
            "retailer_id": [f" R{k % 4} " for k in range(n)],
            "time": [f"2026-03-0{1 + k % 5}T09:{k % 60:02d}" for k in range(n)],
            "type": ["inspection", "visit", "tip_off"] * (n // 3) + ["visit"] * (n % 3),
            "department": "monopoly",
            "outcome": ["ok", "", ""] * (n // 3) + [""] * (n % 3),
            "note": [None, "门店关闭", ""] * (n // 3) + [""] * (n % 3),
            "x_result": ["", "closed", ""] * (n // 3) + [""] * (n % 3),
            "x_count": [1, 2, 3] * (n // 3) + [4] * (n % 3),
        }
    )


def _stored(store) -> pd.DataFrame:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.event_id, *(events.c[c] for c in STORED)).order_by(events.c.event_id))
        return pd.DataFrame(rows.all(), columns=["event_id", *STORED])


def test_small_and_large_appends_store_the_same_rows(tmp_path) -> None:
    """The first rows, appended alone (plain Python) or inside a large frame (pandas), are stored identically."""
    frame = _rows(SMALL_APPEND + 10)
    with (
        open_store(tmp_path / "small.sqlite", create=True) as small,
        open_store(tmp_path / "large.sqlite", create=True) as large,
    ):
        added = small.add_events(frame.head(6), source="a.csv")
        large.add_events(frame, source="a.csv")
        assert added["event_id"].tolist() == frame["event_id"].head(6).tolist()
        assert added["retailer_id"].tolist() == ["R0", "R1", "R2", "R3", "R0", "R1"]
        assert pd.api.types.is_datetime64_any_dtype(added["time"])
        pd.testing.assert_frame_equal(_stored(small), _stored(large).head(6))
        assert _stored(small)["extra"].notna().all()  # x_count is kept, and x_result where given


@pytest.mark.parametrize("size", [3, SMALL_APPEND + 3])
def test_small_and_large_appends_name_the_same_problems(tmp_path, size: int) -> None:
    """Bad rows are refused with the same row, field and message on both paths; nothing is added."""
    frame = _rows(size)
    frame.loc[0, "retailer_id"] = ""
    frame.loc[1, "time"] = "yesterday"
    frame.loc[2, "type"] = "raid"
    frame.loc[size - 1, "event_id"] = "E000"
    with open_store(tmp_path / "s.sqlite", create=True) as store:
        with pytest.raises(InputError) as error:
            store.add_events(frame, source="f.csv")
        text = sorted(str(p) for p in error.value.problems)
        assert store.count_events() == 0
    assert any("row 2, field 'retailer_id'" in t for t in text)
    assert any("row 3, field 'time'" in t for t in text)
    assert any("row 4, field 'type'" in t and "raid" in t for t in text)
    assert any(f"row {size + 1}, field 'event_id'" in t and "duplicate" in t for t in text)
    assert len(text) == 4


def test_small_appends_check_the_log(tmp_path) -> None:
    """An id already in the log, an unknown correction target: refused on the plain-Python path too."""
    with open_store(tmp_path / "s.sqlite", create=True) as store:
        store.add_events(_rows(3))
        with pytest.raises(InputError, match="already in the log"):
            store.add_events(_rows(1))
        with pytest.raises(InputError, match="does not exist"):
            store.add_events(_rows(1).assign(event_id="", corrects="NOPE"))
        fix = store.add_events(_rows(1).assign(event_id="", corrects="E000", time="2026-03-02T10:00"))
        assert fix["corrects"].tolist() == ["E000"] and fix["event_id"].str.startswith("G-").all()
        assert store.count_events() == 4
