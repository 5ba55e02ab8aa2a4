"""Check every input of a district at once and report all problems (``gridmgmt validate``).

Unlike the loaders, which raise on the first file with errors, :func:`validate_inputs`
keeps going across files, so one run lists everything a user has to fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES

log = logging.getLogger(__name__)

#: Name prefix of the placeholder staff ``gridmgmt init`` writes (their travel modes are to be set).
PLACEHOLDER = "待分配 to assign"


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
        coordinate checks, and its depots, staff, orders and schools are checked too. With
        a road network, retailers far from every street are warned about, and so is each
        shop the staff pairs' travel modes cannot reach (every mode for placeholder staff),
        naming the mode and why (:func:`unreachable_shops`).
    coords
        Coordinate system of the retailer table (``wgs84``, ``gcj02``, ``bd09``); default
        the district's ``coords.retailers``, else ``wgs84``.

    Returns
    -------
    ValidationReport
        Never raises for problems in the inputs; they are all in the report.
    """
    from gridmgmt.config import load_settings
    from gridmgmt.inputs.events import check_events
    from gridmgmt.inputs.retailers import check_retailers
    from gridmgmt.inputs.tables import check_depots, check_orders, check_points, check_staff, load_boundary
    from gridmgmt.io import read_table

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
    if settings is not None and settings.files.network:
        for problems in _check_network(settings, boundary, table, str(retailers), staff):
            report.add(problems)
    log.info("validated %d inputs: %d errors, %d warnings", len(report.files), len(report.errors), len(report.warnings))
    return report


def _check_network(
    settings, boundary, retailers: pd.DataFrame | None, file: str, staff: pd.DataFrame | None
) -> list[list[Problem]]:
    """Load the road network; warn about retailers far from every street and shops a pair's mode cannot reach.

    Returns batches of problems for :meth:`ValidationReport.add` (each batch is sorted by row).
    """
    from gridmgmt.network.district import district_network

    try:
        graph = district_network(settings, boundary)
    except InputError as exc:
        return [list(exc.problems)]
    if retailers is None or not {"lon", "lat"} <= set(retailers.columns):
        return []
    lon = pd.to_numeric(retailers["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(retailers["lat"], errors="coerce").to_numpy(float)
    if not (np.isfinite(lon) & np.isfinite(lat)).any():
        return []
    far = _far_problems(graph, retailers, lon, lat, settings.speeds.far_snap_m, file)
    listed, more = reach_problems(unreachable_shops(graph, retailers, staff_modes(staff)), file)
    return [far, listed, more]


def _far_problems(graph, retailers: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, far_m: float, file: str):
    """A warning per retailer farther than ``far_m`` metres from every street (the first 50)."""
    from gridmgmt.network import snap_points

    ok = np.isfinite(lon) & np.isfinite(lat)
    snapped = snap_points(graph, lon[ok], lat[ok], far_snap_m=far_m)
    positions = np.flatnonzero(ok)
    far = np.flatnonzero(snapped["snap_dist_m"].to_numpy() > far_m)
    unit, offset = _row_unit(file)
    return [
        Problem(
            file=file,
            row=int(positions[i]) + offset,
            field="lon/lat",
            unit=unit,
            severity="warning",
            value=f"{snapped['snap_dist_m'].iloc[i]:.0f} m",
            message="far from every street of the road network",
            hint=f"check the coordinates; routes will start {far_m:.0f}+ m away",
        )
        for i in far[:50]
    ]


def _row_unit(file: str) -> tuple[str, int]:
    """How a problem names a retailer's position: ("row", 2) in a CSV (header row 1), else ("record", 1)."""
    from gridmgmt.inputs.checks import is_csv

    return ("row", 2) if is_csv(file) else ("record", 1)


#: Unreachable shops listed one by one; the rest are counted in one line.
MAX_LISTED = 20


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


def unreachable_shops(graph, retailers: pd.DataFrame, modes: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The shops each travel mode cannot reach on the road network, and why.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        The district's road network.
    retailers : pandas.DataFrame
        ``retailer_id``, ``lon``, ``lat`` (WGS-84 degrees), optional ``name``; rows without
        coordinates are skipped.
    modes
        Travel modes to check (``walk``, ``ebike``, ``car``).

    Returns
    -------
    pandas.DataFrame
        One row per unreachable shop and mode, by position then mode: ``position`` (0-based row
        of ``retailers``), ``retailer_id``, ``name``, ``mode``, ``reason``
        (:func:`gridmgmt.network.reachability`'s). ``attrs["checked"]`` is the number of shops
        with coordinates, ``attrs["modes"]`` the modes checked.
    """
    from gridmgmt.network import reachability

    lon = pd.to_numeric(retailers["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(retailers["lat"], errors="coerce").to_numpy(float)
    positions = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    ids = retailers["retailer_id"].astype(str).to_numpy()
    names = retailers["name"].astype(str).to_numpy() if "name" in retailers.columns else np.full(len(retailers), "")
    parts = []
    for mode in modes:
        reach = reachability(graph, lon[positions], lat[positions], mode=mode)
        lost = positions[~reach["reachable"].to_numpy(bool)]
        reasons = reach.loc[~reach["reachable"].to_numpy(bool), "reason"].to_numpy(str)
        parts.append(pd.DataFrame({"position": lost, "retailer_id": ids[lost], "name": names[lost], "mode": mode,
                                   "reason": reasons}))  # fmt: skip
    columns = ["position", "retailer_id", "name", "mode", "reason"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    order = {m: i for i, m in enumerate(modes)}
    out = out.sort_values(["position", "mode"], key=lambda c: c.map(order) if c.name == "mode" else c, kind="stable")
    out = out.reset_index(drop=True)[columns]
    out.attrs.update(checked=len(positions), modes=tuple(modes))
    return out


def reach_problems(lost: pd.DataFrame, file: str) -> tuple[list[Problem], list[Problem]]:
    """Warnings naming the unreachable shops of :func:`unreachable_shops`: the first ``MAX_LISTED``, then a count.

    Returns
    -------
    (list of Problem, list of Problem)
        One warning per shop and mode (retailer file, row, field ``lon/lat``, value id and name,
        message ``unreachable by <mode>: <reason>``, a hint what to do), and a warning counting
        those not listed (empty when none).
    """
    unit, offset = _row_unit(file)
    reachable_by = {
        pos: [m for m in lost.attrs.get("modes", ()) if m not in set(group["mode"])]
        for pos, group in lost.groupby("position")
    }
    listed = [
        Problem(
            file=file,
            row=int(r.position) + offset,
            unit=unit,
            field="lon/lat",
            severity="warning",
            value=f"{r.retailer_id} {r.name}".strip(),
            message=f"unreachable by {r.mode}: {r.reason}",
            hint=_reach_hint(r.reason, reachable_by[r.position]),
        )
        for r in lost.head(MAX_LISTED).itertuples()
    ]
    rest = lost.iloc[MAX_LISTED:]
    if not len(rest):
        return listed, []
    modes = ", ".join(f"{n} by {mode}" for mode, n in rest.groupby("mode", sort=False).size().items())
    more = Problem(
        file=file,
        field="lon/lat",
        severity="warning",
        message=f"{len(rest)} more shops unreachable ({modes})",
        hint="likely for the causes of the shops listed above",
    )
    return listed, [more]


def _reach_hint(reason: str, other_modes: list[str]) -> str:
    """What to do about a shop a mode cannot reach."""
    if reason.startswith("farther than"):
        hint = "check its coordinates: no street comes near it"
    else:
        hint = "check its coordinates, or use an extract that reaches further (its streets may be cut off at the edge)"
    if other_modes:
        hint += f"; a pair by {' or '.join(other_modes)} reaches it and can serve it"
    return hint
