"""Shared validation of input tables: columns, types, categories and ids, collecting every problem.

Every loader (retailers, events, depots, staff, orders, points) runs its table through a
:class:`TableCheck`, which converts columns in place and records a :class:`Problem` for each
bad cell, naming the file, the row as a spreadsheet shows it (header = row 1, first data row
= row 2; for GeoJSON, GeoPackage and Parquet the 1-based record number, called "record"), the
field, the bad value and how to fix it. Checks never stop at the first problem.

The checks are vectorised: a 100,000-row event log costs a few pandas operations per column,
and only bad rows become Problems. Repeats of one kind of problem in one column are capped
(``max_per_check``) with a closing "and N more rows" problem, so a wholly wrong column
gives a readable report.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gridmgmt._errors import Problem

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
MAX_PER_CHECK = 20

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def is_csv(file: str | Path) -> bool:
    """True for files whose rows a spreadsheet numbers (CSV text), False for record formats."""
    return str(file).lower().endswith(CSV_SUFFIXES)


def _norm_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _blank(series: pd.Series) -> pd.Series:
    """Mask of missing or empty cells."""
    return series.isna() | (series.astype(str).str.strip() == "")


class TableCheck:
    """Validate and convert one table, collecting Problems.

    Parameters
    ----------
    frame
        The table as read by :func:`gridmgmt.io.read_table` (CSV columns are strings). It is
        copied; convert with the methods and take the result from ``frame``.
    file
        The file name used in messages.
    max_per_check
        At most this many Problems per column and kind of problem; the rest are summarised.
    """

    def __init__(self, frame: pd.DataFrame, file: str | Path, *, max_per_check: int = MAX_PER_CHECK) -> None:
        self.file = str(file)
        self.frame = frame.reset_index(drop=True).copy()
        self.frame.columns = [str(c).strip() for c in self.frame.columns]
        self.problems: list[Problem] = []
        self.unit = "row" if is_csv(file) else "record"
        self.max_per_check = max_per_check
        # rows whose value in a column failed a check: later checks skip them (one problem per cell)
        self.bad: dict[str, pd.Series] = {}

    # -- row numbers and problems ------------------------------------------------------------

    def row_of(self, position: int) -> int:
        """Spreadsheet row (CSV: header = 1, first data row = 2) or 1-based record number."""
        return int(position) + (2 if self.unit == "row" else 1)

    def add(
        self,
        message: str,
        *,
        position: int | None = None,
        field: str | None = None,
        value: object = None,
        hint: str = "",
        severity: str = "error",
    ) -> None:
        """Record one problem; ``position`` is the 0-based data row (None: the whole file/column)."""
        row = None if position is None else self.row_of(position)
        self.problems.append(
            Problem(
                file=self.file,
                row=row,
                field=field,
                value=value,
                message=message,
                hint=hint,
                severity=severity,
                unit=self.unit,
            )
        )

    def add_rows(
        self,
        mask: pd.Series | np.ndarray,
        field: str,
        message: str,
        *,
        hint: str = "",
        severity: str = "error",
        values: pd.Series | None = None,
        messages: pd.Series | None = None,
    ) -> None:
        """Record one problem for each True row of ``mask`` (capped), showing the cell value."""
        mask = np.asarray(mask, dtype=bool)
        positions = np.flatnonzero(mask)
        if field in self.frame.columns and severity == "error":
            previous = self.bad.get(field, pd.Series(False, index=self.frame.index))
            self.bad[field] = previous | pd.Series(mask, index=self.frame.index)
        shown = positions[: self.max_per_check]
        source = values if values is not None else (self.frame[field] if field in self.frame.columns else None)
        for pos in shown:
            value = None if source is None else source.iloc[pos]
            text = message if messages is None else str(messages.iloc[pos])
            self.add(text, position=int(pos), field=field, value=value, hint=hint, severity=severity)
        rest = len(positions) - len(shown)
        if rest > 0:
            self.add(
                f"and {rest} more {self.unit}s with the same problem: {message}",
                field=field,
                hint=hint,
                severity=severity,
            )

    def ok_rows(self, *fields: str) -> pd.Series:
        """Mask of rows where none of ``fields`` has failed a check so far."""
        ok = pd.Series(True, index=self.frame.index)
        for f in fields:
            if f in self.bad:
                ok &= ~self.bad[f]
        return ok

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    # -- file and column level ---------------------------------------------------------------

    def not_empty(self, what: str = "rows") -> bool:
        """Record an error and return False when the table has no data rows."""
        if len(self.frame) == 0:
            self.add(f"the file has no data {what}", hint="the file has only a header row; export the table again")
            return False
        return True

    def rename_aliases(self, aliases: Mapping[str, Iterable[str]]) -> None:
        """Rename columns known by another name (``{"lon": ["longitude", "经度"]}``) with an info note.

        Matching ignores case, spaces, ``_`` and ``-``. A column that already exists under
        its canonical name is never overwritten.
        """
        present = {_norm_name(c): c for c in self.frame.columns}
        renames: dict[str, str] = {}
        for canonical, names in aliases.items():
            if canonical in self.frame.columns:
                continue
            for alias in names:
                column = present.get(_norm_name(alias))
                if column is not None and column not in renames and column not in aliases:
                    renames[column] = canonical
                    break
        if renames:
            self.frame = self.frame.rename(columns=renames)
            for old, new in renames.items():
                self.add(f"column '{old}' read as '{new}'", field=new, severity="info")

    def require_columns(
        self, required: Iterable[str], *, aliases: Mapping[str, Iterable[str]] | None = None
    ) -> list[str]:
        """Check that ``required`` columns exist; return the missing ones (one problem listing them).

        The hint suggests present columns whose names are close to a missing one or to one
        of its aliases (``"longtitude"`` -> ``lon``).
        """
        required = list(required)
        missing = [c for c in required if c not in self.frame.columns]
        if not missing:
            return []
        known = set(required) | set((aliases or {}).keys())
        spare = [c for c in self.frame.columns if c not in known]
        suggestions = []
        for column in missing:
            names = [column, *((aliases or {}).get(column, ()))]
            lowered = {c.lower(): c for c in spare}
            for name in names:
                close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
                if close:
                    suggestions.append(f"rename column '{lowered[close[0]]}' to '{column}'")
                    spare.remove(lowered[close[0]])
                    break
        hint = "; ".join(suggestions) if suggestions else ""
        present = ", ".join(self.frame.columns) or "none"
        hint = (hint + ". " if hint else "") + f"columns present: {present}"
        self.add(
            f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            field=", ".join(missing),
            hint=hint,
        )
        return missing

    def add_missing(self, columns: Mapping[str, object]) -> None:
        """Add optional columns that are absent, filled with a default."""
        for column, default in columns.items():
            if column not in self.frame.columns:
                self.frame[column] = default

    # -- cell level --------------------------------------------------------------------------

    def trim(self, *fields: str) -> None:
        """Strip surrounding spaces of text cells; missing cells become ''."""
        for f in fields:
            if f in self.frame.columns:
                col = self.frame[f]
                self.frame[f] = col.astype(object).where(col.notna(), "").astype(str).str.strip()

    def required_values(self, field: str, *, hint: str = "") -> None:
        """Error on empty cells of ``field``."""
        if field not in self.frame.columns:
            return
        self.add_rows(_blank(self.frame[field]), field, "empty value", hint=hint or f"fill in {field}")

    def to_float(
        self,
        field: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        required: bool = True,
        hint: str = "",
        what: str = "a number",
    ) -> None:
        """Convert ``field`` to float; errors for empty (if required), non-numeric and out-of-range cells."""
        if field not in self.frame.columns:
            return
        raw = self.frame[field]
        blank = _blank(raw)
        text = raw.astype(object).where(~blank, None)
        if text.dtype == object:
            text = text.map(lambda v: v.strip().replace(",", "") if isinstance(v, str) else v)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        bad = values.isna() & ~blank
        if required:
            self.add_rows(blank, field, "empty value", hint=hint or f"fill in {what}", values=raw)
        self.add_rows(
            bad, field, f"not {what}", hint=hint or f"write {what}, e.g. 12.5 (a dot for decimals)", values=raw
        )
        finite = values.notna() & ~bad
        out = pd.Series(False, index=values.index)
        if minimum is not None:
            out |= finite & (values < minimum)
        if maximum is not None:
            out |= finite & (values > maximum)
        if minimum is not None or maximum is not None:
            lo = "-inf" if minimum is None else f"{minimum:g}"
            hi = "inf" if maximum is None else f"{maximum:g}"
            self.add_rows(
                out, field, f"out of range [{lo}, {hi}]", hint=hint or f"write {what} from {lo} to {hi}", values=raw
            )
        self.frame[field] = values.where(~bad & ~out)

    def to_int(
        self, field: str, *, minimum: int | None = None, maximum: int | None = None, required: bool = False
    ) -> None:
        """Convert ``field`` to nullable ``Int64``; errors for non-integers and out-of-range values."""
        if field not in self.frame.columns:
            return
        raw = self.frame[field]
        self.to_float(field, minimum=minimum, maximum=maximum, required=required, what="a whole number")
        values = self.frame[field]
        fraction = values.notna() & (values != np.floor(values))
        self.add_rows(fraction, field, "not a whole number", hint="write a whole number, e.g. 3", values=raw)
        self.frame[field] = values.where(~fraction).round().astype("Int64")

    def to_date(self, field: str, *, required: bool = False, as_text: bool = True) -> None:
        """Parse dates written YYYY-MM-DD (``/`` and ``.`` also accepted).

        ``as_text`` keeps the column as normalised ``YYYY-MM-DD`` strings ('' when empty);
        otherwise it becomes ``datetime64`` (NaT when empty or bad).
        """
        if field not in self.frame.columns:
            return
        raw = self.frame[field]
        blank = _blank(raw)
        text = raw.astype(object).where(~blank, "").astype(str).str.strip()
        text = text.str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
        text = text.str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[ T]00:00(:00)?$", r"\1", regex=True)
        parsed = pd.to_datetime(text.where(~blank), format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna() & ~blank
        if required:
            self.add_rows(blank, field, "empty date", hint="write a date as YYYY-MM-DD", values=raw)
        self.add_rows(bad, field, "not a date", hint="write a date as YYYY-MM-DD, e.g. 2024-03-18", values=raw)
        if as_text:
            self.frame[field] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), "").astype(str)
        else:
            self.frame[field] = parsed

    def to_datetime(self, field: str, *, required: bool = True) -> None:
        """Parse ISO date-times (``YYYY-MM-DDTHH:MM``, a space and seconds also accepted) to ``datetime64``."""
        if field not in self.frame.columns:
            return
        raw = self.frame[field]
        blank = _blank(raw)
        text = raw.astype(object).where(~blank, "").astype(str).str.strip()
        pattern = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
        shaped = text.str.match(pattern)
        parsed = pd.to_datetime(text.where(shaped & ~blank), format="ISO8601", errors="coerce")
        bad = parsed.isna() & ~blank
        if required:
            self.add_rows(blank, field, "empty time", hint="write YYYY-MM-DDTHH:MM", values=raw)
        self.add_rows(
            bad, field, "not a date and time", hint="write YYYY-MM-DDTHH:MM, e.g. 2024-03-18T09:30", values=raw
        )
        self.frame[field] = parsed

    def to_time(self, field: str, *, allow_24: bool = False, required: bool = True) -> None:
        """Check times of day ``HH:MM`` (``H:MM`` and ``HH:MM:00`` normalised); ``allow_24`` admits 24:00.

        The column stays text (``HH:MM`` or '' when empty and not required).
        """
        if field not in self.frame.columns:
            return
        raw = self.frame[field]
        blank = _blank(raw)
        text = raw.astype(object).where(~blank, "").astype(str).str.strip()
        parts = text.str.extract(_TIME)
        hours = pd.to_numeric(parts[0], errors="coerce")
        minutes = pd.to_numeric(parts[1], errors="coerce")
        seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0)
        valid = (
            hours.notna()
            & (minutes < 60)
            & (seconds == 0)
            & ((hours < 24) | (allow_24 & (hours == 24) & (minutes == 0)))
        )
        bad = ~valid & ~blank
        if required:
            self.add_rows(blank, field, "empty time", hint="write a time of day as HH:MM", values=raw)
        limit = "00:00 to 24:00" if allow_24 else "00:00 to 23:59"
        self.add_rows(bad, field, "not a time of day", hint=f"write HH:MM from {limit}, e.g. 08:30", values=raw)
        normal = hours.astype("Int64").astype(str).str.zfill(2) + ":" + minutes.astype("Int64").astype(str).str.zfill(2)
        self.frame[field] = normal.where(valid, "").astype(str)

    def categories(
        self,
        field: str,
        allowed: Iterable[str],
        *,
        aliases: Mapping[str, str] | None = None,
        required: bool = True,
        case: str = "lower",
    ) -> None:
        """Check that ``field`` holds one of ``allowed``; map ``aliases`` (e.g. Chinese labels) to them.

        ``case`` ("lower", "upper" or "keep") normalises letters before matching. Unknown
        values get a "did you mean" hint from :mod:`difflib`.
        """
        if field not in self.frame.columns:
            return
        allowed = list(allowed)
        raw = self.frame[field]
        blank = _blank(raw)
        text = raw.astype(object).where(~blank, "").astype(str).str.strip()
        if case == "lower":
            text = text.str.lower()
        elif case == "upper":
            text = text.str.upper()
        if aliases:
            text = text.map(lambda v: aliases.get(v, v))
        unknown = ~text.isin(allowed) & ~blank
        if required:
            self.add_rows(blank, field, "empty value", hint=f"use one of: {', '.join(allowed)}", values=raw)
        if unknown.any():
            labels = [a for a in (aliases or {}) if not a.isascii()]  # show the Chinese labels, not spellings
            extra = f" (or {', '.join(labels)})" if labels else ""
            hints = {}
            for value in text[unknown].unique():
                close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
                hints[value] = f"did you mean '{close[0]}'? " if close else ""
            messages = text.map(lambda v: f"unknown {field}")
            # one problem per row, each with its own suggestion
            positions = np.flatnonzero(unknown.to_numpy())
            if field in self.frame.columns:
                self.bad[field] = self.bad.get(field, pd.Series(False, index=self.frame.index)) | unknown
            for pos in positions[: self.max_per_check]:
                value = text.iloc[pos]
                self.add(
                    messages.iloc[pos],
                    position=int(pos),
                    field=field,
                    value=raw.iloc[pos],
                    hint=f"{hints[value]}use one of: {', '.join(allowed)}{extra}",
                )
            rest = len(positions) - min(len(positions), self.max_per_check)
            if rest:
                self.add(
                    f"and {rest} more {self.unit}s with an unknown {field}",
                    field=field,
                    hint=f"use one of: {', '.join(allowed)}",
                )
        self.frame[field] = text.where(~unknown, "").astype(str)

    def unique(self, field: str, *, what: str | None = None) -> None:
        """Error on duplicate non-empty values of ``field``, naming the row where each first appeared."""
        if field not in self.frame.columns:
            return
        values = self.frame[field].astype(object).where(~_blank(self.frame[field]), None)
        dup = values.duplicated(keep="first") & values.notna()
        if not dup.any():
            return
        first_pos = {}
        for pos, value in enumerate(values):
            if value is not None and value not in first_pos:
                first_pos[value] = pos
        messages = pd.Series(
            [
                f"duplicate {what or field}, first in {self.unit} {self.row_of(first_pos[v])}" if v in first_pos else ""
                for v in values
            ],
            index=values.index,
        )
        self.add_rows(
            dup,
            field,
            f"duplicate {what or field}",
            messages=messages,
            hint=f"each {what or field} must appear once; remove or renumber the repeated {self.unit}",
        )

    def known_ids(self, field: str, known: set[str], *, what: str, table: str, severity: str = "error") -> None:
        """Error (or warning) on non-empty values of ``field`` not in ``known``."""
        if field not in self.frame.columns:
            return
        values = self.frame[field]
        unknown = ~values.isin(known) & ~_blank(values) & self.ok_rows(field)
        self.add_rows(
            unknown,
            field,
            f"unknown {what}",
            severity=severity,
            hint=f"use a {what} that exists in the {table} table (check for typos or a missing {table} row)",
        )


# -- coordinates -------------------------------------------------------------------------------
