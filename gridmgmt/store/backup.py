"""Copies of the store: an online backup (consistent while others write) and a GeoPackage export for QGIS/ArcGIS.

SQLite is copied with SQLite's own backup API from one read transaction, so the copy is the
store as of one moment even while clerks keep adding events. PostgreSQL is copied with
``pg_dump`` (custom format, one snapshot); without ``pg_dump`` on this machine the backup is
refused with a hint (the server's own backups are then the way).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from gridmgmt import io
from gridmgmt._errors import StoreError
from gridmgmt.store.eventlog import events_between
from gridmgmt.store.history import (
    assignment_on,
    feature_layers,
    pairs_on,
    read_features,
    read_retailers,
    read_staff,
)
from gridmgmt.store.runs import latest_run_ids, read_run


def backup(engine: sa.Engine, to: str | os.PathLike, *, label: str = "store") -> Path:
    """Write a consistent copy of the store to ``to`` (atomically); return the path.

    SQLite: a SQLite file (open it with ``--store FILE``). PostgreSQL: a ``pg_dump -Fc`` archive
    (restore with ``pg_restore -d URL FILE``).

    Raises
    ------
    StoreError
        When the copy fails, or ``pg_dump`` is not installed for a PostgreSQL store.
    """
    target = Path(to)
    if engine.dialect.name == "sqlite":
        source = engine.url.database or ""
        path = source.removeprefix("file:").split("?")[0]
        with io.atomic_path(target) as tmp:
            try:
                src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                dst = sqlite3.connect(tmp)
                with dst:
                    src.backup(dst)  # all pages in one step: one read transaction, one moment
                dst.execute("PRAGMA journal_mode = DELETE")  # the copy is one self-contained file
                dst.close()
                src.close()
            except sqlite3.Error as error:
                raise StoreError(f"{label}: backup to {target} failed: {error}") from error
        return target
    return _pg_dump(engine.url, target, label)


def _pg_dump(url: sa.URL, target: Path, label: str) -> Path:
    binary = shutil.which("pg_dump") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)), None
    )
    if binary is None:
        raise StoreError(
            f"{label}: pg_dump is not installed here; install PostgreSQL's client tools "
            "(apt-get install postgresql-client) or back the server up with its own tools"
        )
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # not on the command line, where `ps` would show it
    args = [binary, "-Fc", "--no-owner"]
    host = url.query.get("host") or url.host
    port = url.query.get("port") or url.port
    for flag, value in (("-h", host), ("-p", port), ("-U", url.username), ("-d", url.database)):
        if value:
            args += [flag, str(value)]
    with io.atomic_path(target) as tmp:
        done = subprocess.run([*args, "-f", str(tmp)], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["pg_dump failed"])[0]
            raise StoreError(f"{label}: backup to {target} failed: {first}")
    return target


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
