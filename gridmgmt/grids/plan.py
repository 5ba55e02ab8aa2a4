"""Grid plans on disk: the GridPlan type and the only reader and writer of ``grids.gpkg``.

A plan is two layers, ``grids`` (WGS-84 polygons, one row per grid) and ``assignment``
(retailer_id, grid_id), in ``grids.gpkg`` or in the store. :func:`read_grid_plan` is the one
reader (it checks both layers agree); :func:`load_grids` (and :func:`gridmgmt.ops.grids.stored_grids`) give the
frame form the maps, the loop and the patrol take; :func:`grid_assignment` decides where a
retailer's grid id comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmgmt import io
from gridmgmt._errors import InputError, Problem
from gridmgmt.coords import WGS84


@dataclass
class GridPlan:
    """Service grids of a district.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        WGS-84; grid_id 1..K, geometry, retailers, workload_min, service_min, travel_min, area_km2,
        density_per_km2, polsby_popper, old_town_share (share of the grid's area in old-town
        subdistricts), and the grid's staff pair: customer_manager, customer_manager_name,
        monopoly_officer, monopoly_officer_name, depot (the pair's depot id) and travel_mode (the
        slower member's mode), the pair the grid's workload is priced for.
    assignment : pandas.DataFrame
        retailer_id, grid_id.
    metrics : dict
        Headline numbers: k, balance (max/min), cv, contiguous, polsby_popper_mean/min,
        boundary_on_street, elapsed_s, c_tour_min, depot_speed_kmh, mode (of the first partition),
        pair_modes (coefficients per pair travel mode), matching_rounds, pairs_matched_by, ...
    block_grid : numpy.ndarray of int
        Grid id of every street block (for rebalancing in the same session).
    risk_level : pandas.Series or None
        Risk levels used for the monopoly visits (by retailer_id).
    district : str
        The district.toml the plan was built for ('' when unknown); ``grids.gpkg`` records it, so
        commands given a plan need no ``--district``.
    unreachable : pandas.DataFrame or None
        Shops the grid's pair cannot reach in its travel mode (retailer_id, mode, reason, grid_id),
        from the routed check of a build (:func:`~gridmgmt.grids.verify.check_plan`; read back from
        ``unreachable.csv`` beside ``grids.gpkg``); None when the plan was not checked.
    """

    grids: gpd.GeoDataFrame
    assignment: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    block_grid: np.ndarray | None = None
    risk_level: pd.Series | None = None
    district: str = ""
    unreachable: pd.DataFrame | None = None

    def as_frame(self) -> gpd.GeoDataFrame:
        """The grid polygons with the assignment (retailer_id, grid_id) in ``attrs["assignment"]``."""
        grids = self.grids.copy()
        grids.attrs["assignment"] = self.assignment[["retailer_id", "grid_id"]]
        return grids


def grids_gpkg_path(path: str | Path) -> Path:
    """The ``grids.gpkg`` a path names: the file itself, or ``grids.gpkg`` in a folder."""
    p = Path(path)
    return p / "grids.gpkg" if p.is_dir() else p


def read_grid_plan(path: str | Path) -> GridPlan:
    """Read a plan: ``grids.gpkg`` (or a folder holding it, or a store) with layers ``grids`` and ``assignment``.

    Parameters
    ----------
    path : str or Path
        A ``grids.gpkg``, the folder holding it, or a store GeoPackage with the same layers.

    Returns
    -------
    GridPlan
        Grids in WGS-84 with integer ``grid_id``; the assignment (retailer_id as text, grid_id).

    Raises
    ------
    InputError
        Missing file or layers, or an assignment naming grid ids the grids layer does not have.
    """
    path = grids_gpkg_path(path)
    if not path.exists():
        raise InputError(Problem(file=str(path), message="file not found",
                                 hint="pass the grids.gpkg written by `gridmgmt grids build`"))  # fmt: skip
    layers = io.list_layers(path)
    for name in ("grids", "assignment"):
        if name not in layers:
            raise InputError(Problem(file=str(path), field=name, message=f"layer {name!r} not found",
                                     hint=f"layers are {layers}"))  # fmt: skip
    grids = io.read_layer(path, "grids")
    assignment = pd.DataFrame(io.read_layer(path, "assignment"))
    if "grid_id" not in grids:
        raise InputError(Problem(file=f"{path}:grids", field="grid_id", message="column not found"))
    problems = []
    for col in ("retailer_id", "grid_id"):
        if col not in assignment:
            problems.append(Problem(file=f"{path}:assignment", field=col, message="column not found"))
    if problems:
        raise InputError(problems)
    assignment["retailer_id"] = assignment["retailer_id"].astype(str)
    gid = pd.to_numeric(assignment["grid_id"], errors="coerce")
    known = set(pd.to_numeric(grids["grid_id"]).astype(int).tolist())
    bad = ~gid.isin(list(known))
    for i in np.flatnonzero(bad.to_numpy())[:20]:
        problems.append(Problem(file=f"{path}:assignment", row=int(i) + 2, field="grid_id",
                                value=assignment["grid_id"].iloc[i], unit="record",
                                message=f"grid id not in the grids layer ({min(known)}..{max(known)})",
                                hint="use the assignment and grids layers of the same plan"))  # fmt: skip
    if problems:
        raise InputError(problems)
    assignment["grid_id"] = gid.astype(int)
    grids["grid_id"] = pd.to_numeric(grids["grid_id"]).astype(int)
    about = _read_about(path, layers)
    metrics = about.get("metrics", {})
    return GridPlan(
        grids=grids.to_crs(WGS84),
        assignment=assignment[["retailer_id", "grid_id"]],
        metrics=metrics,
        district=about.get("district", ""),
        unreachable=_read_unreachable(path.parent / "unreachable.csv", metrics),
    )


def _read_unreachable(path: Path, metrics: dict[str, Any]) -> pd.DataFrame | None:
    """The ``unreachable.csv`` :func:`write_grid_plan` wrote beside a checked plan (retailer_id, mode, reason,
    grid_id); None when the plan was not checked (no ``unreachable`` count in its metrics) or the file is
    missing or does not hold that count (left by another build)."""
    count = metrics.get("unreachable")
    if count is None or not path.is_file():
        return None
    table = io.read_table(path)
    if not {"retailer_id", "mode", "reason"} <= set(table.columns) or len(table) != int(count):
        return None
    return table


def _read_about(path: Path, layers: list[str]) -> dict[str, Any]:
    """The ``about`` table of a grids.gpkg (district and metrics), {} for plans written before it existed."""
    if "about" not in layers:
        return {}
    table = pd.DataFrame(io.read_layer(path, "about"))
    about = dict(zip(table["key"].astype(str), table["value"].astype(str), strict=True))
    return {"district": about.get("district", ""), "metrics": json.loads(about.get("metrics", "{}"))}


def headline_metrics(plan: GridPlan) -> dict[str, Any]:
    """The numbers ``metrics.json`` leads with (share 0-1, seconds), then every other metric of the plan.

    ``max_min_routed``, ``calibration_fit_error`` (0-1), ``unreachable`` (shops) and the utilisation
    range are None for a plan that was not checked against routed tours.
    """
    m = plan.metrics
    head = {
        "grids": int(m.get("k", len(plan.grids))),
        "max_min_plan": m.get("balance"),
        "max_min_routed": m.get("max_min_routed"),
        "calibration_fit_error": m.get("calibration_fit_error"),
        "unreachable": m.get("unreachable"),
        "utilisation_min": m.get("utilisation_min"),
        "utilisation_max": m.get("utilisation_max"),
        "polsby_popper_mean": m.get("polsby_popper_mean"),
        "polsby_popper_min": m.get("polsby_popper_min"),
        "boundary_on_street": m.get("boundary_on_street"),
        "contiguous": m.get("contiguous"),
        "elapsed_s": m.get("elapsed_s"),
        "district": plan.district,
    }
    return head | {k: v for k, v in m.items() if k not in head}


def load_grids(path: str | Path) -> gpd.GeoDataFrame:
    """Grid polygons of a plan read by :func:`read_grid_plan`, with the assignment in ``attrs["assignment"]``."""
    return read_grid_plan(path).as_frame()


def write_grid_plan(plan: GridPlan, out_dir: str | Path, *, moves: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``grids.gpkg`` (layers grids, assignment, about), ``grids.csv``, ``assignment.csv``, ``metrics.json``,
    ``moves.csv`` (given moves) and ``unreachable.csv`` (a checked plan: retailer_id, mode, reason, grid_id).

    Every file is written atomically; nothing is written when the plan is missing. ``metrics.json``
    is strict JSON: numbers as numbers, ``null`` for a value that is not a finite number.

    Returns
    -------
    dict of str to Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grids = plan.grids.to_crs(WGS84)
    metrics = _json_ready(headline_metrics(plan))
    about = pd.DataFrame(
        {"key": ["district", "metrics"], "value": [plan.district, json.dumps(metrics, allow_nan=False)]}
    )
    layers = {"grids": grids, "assignment": plan.assignment, "about": about}
    paths = {
        "gpkg": io.write_layers(layers, out / "grids.gpkg", replace=True),
        "grids_csv": io.write_csv(pd.DataFrame(grids.drop(columns="geometry")), out / "grids.csv"),
        "assignment_csv": io.write_csv(plan.assignment, out / "assignment.csv"),
        "metrics_json": io.write_json(metrics, out / "metrics.json"),
    }
    if moves is not None:
        paths["moves_csv"] = io.write_csv(moves, out / "moves.csv")
    if plan.unreachable is not None:
        paths["unreachable_csv"] = io.write_csv(plan.unreachable, out / "unreachable.csv")
    return paths


def _json_ready(value: Any) -> Any:
    """A value for strict JSON (metrics.json): numpy numbers as Python numbers, NaN and infinities as None,
    containers item by item, anything else as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return str(value)


def grid_assignment(
    retailers: pd.DataFrame, grids: GridPlan | gpd.GeoDataFrame | pd.DataFrame | None = None
) -> pd.DataFrame | None:
    """Where each retailer's grid id comes from: the grids when given, else the retailers' own ``grid_id``.

    Parameters
    ----------
    retailers : pandas.DataFrame
        The district's retailers (``retailer_id``, optional ``grid_id``).
    grids : GridPlan, GeoDataFrame or DataFrame, optional
        A plan, grid polygons with ``attrs["assignment"]`` (:func:`load_grids`), or an assignment
        table (retailer_id, grid_id).

    Returns
    -------
    pandas.DataFrame or None
        retailer_id (text), grid_id; None when there are no grids and no retailer has a ``grid_id``.
    """
    if grids is not None:
        if isinstance(grids, GridPlan):
            table = grids.assignment
        elif "assignment" in grids.attrs:
            table = grids.attrs["assignment"]
        else:
            table = grids
    elif "grid_id" in retailers and retailers["grid_id"].notna().any():
        table = retailers
    else:
        return None
    out = pd.DataFrame(table)[["retailer_id", "grid_id"]]
    return out.assign(retailer_id=out["retailer_id"].astype(str))
