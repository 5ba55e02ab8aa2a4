"""Text of table values: the one rule for turning a missing value (None, NaN, NA, NaT) into text."""

from __future__ import annotations

import pandas as pd


def is_missing(value: object) -> bool:
    """True for None, NaN (any float type), ``pd.NA`` and ``NaT``; False for every other value, lists included."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def text_or_blank(value: object, *, blank: str = "", whole_as_int: bool = False) -> str:
    """``str(value)``, or ``blank`` for a missing value (see :func:`is_missing`).

    Parameters
    ----------
    value
        Any cell value.
    blank
        Text of a missing value ('' by default; e.g. '-' in report tables).
    whole_as_int
        Write a whole float without its decimals (``3.0`` -> ``"3"``), as integer columns that
        pandas turned into floats because of a missing value should read.
    """
    if is_missing(value):
        return blank
    if whole_as_int and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
