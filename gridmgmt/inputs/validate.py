"""Check every input of a district at once and report all problems (``gridmgmt validate``).

Unlike the loaders, which raise on the first file with errors, :func:`validate_inputs`
keeps going across files, so one run lists everything a user has to fix. Inputs read files
only: the road network's checks come in as a hook (:func:`gridmgmt.ops.district.validate_files`
gives :func:`gridmgmt.ops.network_checks.network_problems`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES, Settings, load_settings
from gridmgmt.inputs.events import check_events
from gridmgmt.inputs.retailers import check_retailers
from gridmgmt.inputs.tables import check_depots, check_orders, check_points, check_staff, load_boundary
from gridmgmt.io import read_table

log = logging.getLogger(__name__)

#: Name prefix of the placeholder staff ``gridmgmt init`` writes (their travel modes are to be set).
PLACEHOLDER = "待分配 to assign"

#: Checks of the district's road network: (settings, boundary, retailers or None, the retailers'
#: file, staff or None) -> batches of problems, each sorted by row.
NetworkCheck = Callable[
    [Settings, gpd.GeoDataFrame | None, pd.DataFrame | None, str, pd.DataFrame | None], list[list[Problem]]
]


@dataclass
class ValidationReport:
    """Everything found in the inputs.

    Attributes
    ----------
    problems
        Errors and warnings in the order found (``Problem.severity`` tells which): errors
        make the inputs unusable until fixed; warnings are worth checking only.
    notes
        Information, e.g. a column read under its canonical name.
    counts
        Rows read per input (``{"retailers": 5012, ...}``).
    files
        Path of each input checked.
    """

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the inputs unusable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems that do not fail validation."""
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not count)."""
        return not self.errors

    def add(self, problems: list[Problem]) -> None:
        """Add problems (errors and warnings) and notes (severity "info")."""
        # within one file, in row order (file-level problems first)
        for p in sorted(problems, key=lambda p: (p.row is not None, p.row or 0)):
            (self.problems if p.severity in ("error", "warning") else self.notes).append(p)

    def summary(self) -> str:
        """A few lines: rows per input, numbers of errors and warnings, and the verdict."""
        lines = []
        errors, warnings = self.errors, self.warnings
        for kind, path in self.files.items():
            n_err = sum(p.file == path for p in errors)
            n_warn = sum(p.file == path for p in warnings)
            rows = self.counts.get(kind)
            read = f"{rows:,} rows" if rows is not None else "not read" if n_err else "read"
            lines.append(
                f"{kind}: {path}: {read}, {n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
            )
        verdict = "inputs are usable" if self.ok else "inputs are NOT usable: fix the errors above"
        lines.append(f"{len(errors)} errors, {len(warnings)} warnings: {verdict}")
        return "\n".join(lines)

    def lines(self) -> list[str]:
        """Every error, then every warning, then notes, one line each (``severity: problem``)."""
        return [f"{p.severity}: {p}" for p in [*self.errors, *self.warnings, *self.notes]]


def validate_inputs(
    retailers: str | os.PathLike | None,
    *,
    events: str | os.PathLike | None = None,
    district: str | os.PathLike | None = None,
    coords: str | None = None,
    network_check: NetworkCheck | None = None,
) -> ValidationReport:
    """Validate the retailer table and, if given, the event log and every file a district.toml names.

    Parameters
    ----------
    retailers
        The retailer table; None to take ``files.retailers`` from ``district``.
    events
        The event log; None to take ``files.events`` from ``district`` (if any).
    district
        A district.toml: its settings are checked, its boundary is used for the
        coordinate checks, and its depots, staff, orders and schools are checked too.
    coords
        Coordinate system of the retailer table (``wgs84``, ``gcj02``, ``bd09``); default
        the district's ``coords.retailers``, else ``wgs84``.
    network_check
        Run when the district names a road network, after every file is read (the checks of
        :mod:`gridmgmt.ops.network_checks`: retailers far from every street, shops the staff
        pairs' travel modes cannot reach); None: the network is not checked.

    Returns
    -------
    ValidationReport
        Never raises for problems in the inputs; they are all in the report.
    """
    report = ValidationReport()
    settings = None
    if district is not None:
        report.files["district"] = str(district)
        try:
            settings = load_settings(os.fspath(district))
        except InputError as exc:
            report.add(exc.problems)

    boundary = None
    if settings is not None and settings.files.boundary:
        path = str(settings.path("boundary"))
        report.files["boundary"] = path
        try:
            boundary = load_boundary(path)
            report.counts["boundary"] = len(boundary)
        except InputError as exc:
            report.add(exc.problems)

    def run(kind: str, path: str | os.PathLike, check: Callable[[pd.DataFrame, str], tuple]) -> pd.DataFrame | None:
        report.files[kind] = str(path)
        try:
            frame = read_table(path)
        except InputError as exc:
            report.add(exc.problems)
            return None
        result, problems = check(frame, str(path))
        report.add(problems)
        report.counts[kind] = len(result)
        return result

    if retailers is None and settings is not None:
        retailers = settings.path("retailers")
    retailer_ids: set[str] | None = None
    table = None
    if retailers is not None:
        system = coords or (settings.coords.retailers if settings is not None else "wgs84")
        table = run("retailers", retailers, lambda f, p: check_retailers(f, file=p, coords=system, boundary=boundary))
        if table is not None and "retailer_id" in table.columns and len(table):
            retailer_ids = {r for r in table["retailer_id"].astype(str) if r}

    if events is None and settings is not None and settings.files.events:
        events = settings.path("events")
    if events is not None:
        run("events", events, lambda f, p: check_events(f, file=p, retailer_ids=retailer_ids))

    staff = None
    if settings is not None:
        files = settings.files
        depot_ids: set[str] | None = None
        if files.depots:
            depots = run(
                "depots", settings.path("depots"), lambda f, p: check_depots(f, file=p, coords=settings.coords.depots)
            )
            if depots is not None and "depot_id" in depots.columns:
                depot_ids = {str(d) for d in depots["depot_id"]}
        if files.staff:
            staff = run("staff", settings.path("staff"), lambda f, p: check_staff(f, file=p, depot_ids=depot_ids))
        if files.orders:
            run("orders", settings.path("orders"), lambda f, p: check_orders(f, file=p, retailer_ids=retailer_ids))
        if files.schools:
            run(
                "schools",
                settings.path("schools"),
                lambda f, p: check_points(f, file=p, coords=settings.coords.schools),
            )
    if network_check is not None and settings is not None and settings.files.network:
        for problems in network_check(settings, boundary, table, str(retailers), staff):
            report.add(problems)
    log.info("validated %d inputs: %d errors, %d warnings", len(report.files), len(report.errors), len(report.warnings))
    return report


def staff_modes(staff: pd.DataFrame | None) -> tuple[str, ...]:
    """The travel modes the district's staff pairs may travel by, slowest first.

    A pair travels at its slower member's mode (:mod:`gridmgmt.grids.pairs`), always one of its
    members' modes, so the members' modes hold every pair's. Every mode (walk, ebike, car) when
    the staff are unknown: no staff table, one without a ``travel_mode`` column, or only
    ``gridmgmt init``'s placeholders (named ``PLACEHOLDER``, their modes still to be set).
    """
    if staff is None or not len(staff) or "travel_mode" not in staff.columns:
        return TRAVEL_MODES
    names = staff["name"].astype(str) if "name" in staff.columns else pd.Series("", index=staff.index)
    if names.str.startswith(PLACEHOLDER).all():
        return TRAVEL_MODES
    modes = set(staff["travel_mode"].astype(str))
    return tuple(m for m in TRAVEL_MODES if m in modes) or TRAVEL_MODES
