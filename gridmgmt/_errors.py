"""The error vocabulary: every error a user can see, with file, row and field."""

from __future__ import annotations

from dataclasses import dataclass


class GridMgmtError(Exception):
    """Base class of every error gridmgmt raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input: where it is, what is wrong and how to fix it.

    ``row`` is the 1-based data row as a spreadsheet shows it (the header is row 1,
    so the first data row is row 2); ``None`` for problems of a whole file or column.
    """

    file: str
    message: str
    row: int | None = None
    field: str | None = None
    value: object = None
    hint: str = ""
    severity: str = "error"  # "error" stops the run; "warning" and "info" are reported only
    unit: str = "row"  # "record" for GeoJSON/GeoPackage/Parquet, where row is the 1-based record number

    def __post_init__(self) -> None:
        # values taken from a table are numpy/pandas scalars: keep them as plain Python values, so a
        # problem prints `124.95`, not `np.float64(124.95)`, and serialises to JSON
        object.__setattr__(self, "value", plain_value(self.value))

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", {self.unit} {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        text = f"{where}: {self.message}"
        if self.value is not None and self.value != "":
            text += f" (value: {self.value!r})"
        if self.hint:
            text += f". {self.hint}"
        return text


def plain_value(value: object) -> object:
    """``value`` as a plain Python value: numpy scalars as int/float/bool/str, timestamps as ISO text.

    Anything else is returned unchanged.
    """
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "item"):
        return value.item()
    if module == "pandas" and hasattr(value, "isoformat"):  # Timestamp, Timedelta
        return value.isoformat()
    return value


class InputError(GridMgmtError, ValueError):
    """One or more problems in an input file; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem] | Problem | str, *, file: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(file=file or "input", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = [p for p in problems if p.severity == "error"] or problems
        first = str(self.problems[0])
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problems)" if more else ""))


class ConfigError(InputError):
    """A problem in district.toml."""


class InfeasiblePlanError(GridMgmtError, RuntimeError):
    """A plan (grids, routes) cannot meet its hard constraints; the message says which."""


class StoreError(GridMgmtError, RuntimeError):
    """The shared store cannot do what was asked (read-only, locked, unreachable); nothing was written."""
