"""The store for QGIS and ArcGIS users: every current layer (history, events, the newest runs) in one GeoPackage."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from gridmgmt import io
from gridmgmt._errors import StoreError
from gridmgmt.store.eventframes import events_between
from gridmgmt.store.history import (
    assignment_on,
    feature_layers,
    pairs_on,
    read_features,
    read_retailers,
    read_staff,
)
from gridmgmt.store.runs import latest_run_ids, read_run


def current_layers(engine: sa.Engine, *, on_date: str | date | None = None, label: str = "store") -> dict:
    """Every current layer of the store by name: feature layers, retailers (with their grid), staff,
    the staff pairs, the event log, and the layers of the newest run of each kind (named
    ``<layer>``, or ``<kind>_<layer>`` when two kinds share a layer name).
    """
    day = pd.Timestamp(on_date or pd.Timestamp.now()).date()
    layers: dict[str, pd.DataFrame] = {
        name: read_features(engine, name, label=label) for name in feature_layers(engine)
    }
    retailers = read_retailers(engine, label=label)
    if len(retailers):
        grid = assignment_on(engine, day, label=label).rename(columns={"grid_id": "current_grid_id"})
        layers["retailers"] = retailers.merge(grid, on="retailer_id", how="left")
    staff = read_staff(engine, label=label)
    if len(staff):
        layers["staff"] = staff
    pairs = pairs_on(engine, day, label=label)
    if len(pairs):
        layers["staff_pairs"] = pairs
    events = events_between(engine, label=label)
    if len(events):
        layers["events"] = events
    results: dict[tuple[str, str], pd.DataFrame] = {}
    for kind, run_id in latest_run_ids(engine, label=label).items():
        for name, frame in read_run(engine, run_id, label=label).layers.items():
            results[(kind, name)] = frame
    names = [name for _, name in results]
    for (kind, name), frame in results.items():
        clash = names.count(name) > 1 or name in layers
        layers[f"{kind}_{name}" if clash else name] = frame
    return layers


def export_gpkg(engine: sa.Engine, to: str | os.PathLike, *, label: str = "store") -> tuple[Path, list[str]]:
    """Write every current layer (see :func:`current_layers`) into one GeoPackage; return it and the layer names."""
    target = Path(to)
    if target.suffix.lower() != ".gpkg":
        raise StoreError(f"{target}: export writes a GeoPackage; name the file .gpkg")
    layers = {name: frame for name, frame in current_layers(engine, label=label).items() if len(frame.columns)}
    if not layers:
        raise StoreError(f"{label}: the store is empty; nothing to export (run `gridmgmt store init` first)")
    io.write_layers(layers, target, replace=True)
    return target, list(layers)
