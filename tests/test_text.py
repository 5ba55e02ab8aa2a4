"""The one text helper: every kind of missing value reads as the blank, other values as str()."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmgmt.maps import esc
from gridmgmt.text import is_missing, text_or_blank


def test_missing_values_become_the_blank() -> None:
    """None, NaN of any float type, NA and NaT are missing; 0, '' and lists are not."""
    for value in (None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT")):
        assert is_missing(value) and text_or_blank(value) == "" and text_or_blank(value, blank="-") == "-"
    for value in (0, 0.0, "", [1, 2], "nan"):
        assert not is_missing(value)
    assert text_or_blank(3.0) == "3.0" and text_or_blank(3.0, whole_as_int=True) == "3"
    assert text_or_blank(np.float64(2.5), whole_as_int=True) == "2.5"


def test_esc_writes_missing_values_as_the_blank_escaped() -> None:
    """esc builds on text_or_blank, so maps, sheets and the overview agree on what a missing value shows."""
    assert esc(None) == "" and esc(pd.NaT, blank="-") == "-" and esc(float("nan"), blank="<none>") == "&lt;none&gt;"
