"""The checks of ``gridmgmt validate`` that need the district's road network.

Inputs read files only, so :func:`gridmgmt.inputs.validate.validate_inputs` checks the road
network through the hook :func:`gridmgmt.ops.district.validate_files` gives it:
:func:`network_problems` loads the network and warns about retailers far from every street and
the shops a staff pair's travel mode cannot reach (:func:`unreachable_shops`, which
``gridmgmt init`` uses too).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import Settings
from gridmgmt.inputs.checks import is_csv
from gridmgmt.inputs.validate import staff_modes
from gridmgmt.network import reachability, snap_points
from gridmgmt.network.district import district_network

#: Unreachable shops listed one by one; the rest are counted in one line.
MAX_LISTED = 20


def network_problems(
    settings: Settings,
    boundary: gpd.GeoDataFrame | None,
    retailers: pd.DataFrame | None,
    file: str,
    staff: pd.DataFrame | None,
) -> list[list[Problem]]:
    """Load the road network; warn about retailers far from every street and shops a pair's mode cannot reach.

    Returns batches of problems for :meth:`ValidationReport.add` (each batch is sorted by row).
    """
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
    return ("row", 2) if is_csv(file) else ("record", 1)


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
