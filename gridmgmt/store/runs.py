"""Results as runs: each command's output (grids, risk scores, day plans) with its id, time, inputs and parameters.

A run is written once, in one transaction, and never changed; the newest run of a kind is the
current result, and every earlier run stays readable by its id.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from gridmgmt._errors import StoreError
from gridmgmt.store.engine import read_connection
from gridmgmt.store.eventlog import new_event_id
from gridmgmt.store.frames import describe, from_rows, json_safe, to_rows
from gridmgmt.store.schema import run_rows, runs


@dataclass(frozen=True)
class Run:
    """One stored result: ``layers`` maps a layer name to its (Geo)DataFrame as written."""

    run_id: str
    kind: str
    created: datetime
    inputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, for a run's ``inputs``."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 (hex) of a frame's values, for inputs that are not files."""
    values = pd.util.hash_pandas_object(pd.DataFrame(frame).astype(str), index=False).to_numpy()
    return hashlib.sha256(values.tobytes()).hexdigest()


def write_run(
    conn: sa.Connection,
    kind: str,
    layers: Mapping[str, pd.DataFrame],
    *,
    inputs: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> str:
    """Store a result as a new run inside the caller's transaction; return its ``run_id``.

    Parameters
    ----------
    kind
        What made it: ``grids``, ``risk``, ``plan``, ...
    layers
        Layer name -> (Geo)DataFrame; geometry is stored in WGS-84.
    inputs
        Input name -> hash (see :func:`file_hash`, :func:`frame_hash`).
    parameters
        The options the command ran with (JSON-safe values; others are stored as text).
    """
    run_id = new_event_id(prefix="R")
    conn.execute(
        runs.insert().values(
            run_id=run_id,
            kind=kind,
            created=datetime.now(),
            inputs=dict(inputs or {}),
            parameters=json_safe(dict(parameters or {})),
            layers={name: describe(frame) for name, frame in layers.items()},
        )
    )
    for name, frame in layers.items():
        attrs, geoms = to_rows(frame)
        rows = [
            {"run_id": run_id, "layer": name, "row_no": n, "attrs": a, "geom": g}
            for n, (a, g) in enumerate(zip(attrs, geoms, strict=True))
        ]
        if rows:
            conn.execute(run_rows.insert(), rows)
    return run_id


def list_runs(engine: sa.Engine, kind: str | None = None, *, label: str = "store") -> pd.DataFrame:
    """Runs newest first: ``run_id``, ``kind``, ``created``, ``inputs``, ``parameters``, ``layers`` (names)."""
    stmt = sa.select(runs).order_by(runs.c.created.desc(), runs.c.run_id.desc())
    if kind is not None:
        stmt = stmt.where(runs.c.kind == kind)
    with read_connection(engine, label) as conn:
        rows = conn.execute(stmt).mappings().all()
    frame = pd.DataFrame(
        [{**r, "layers": sorted((r["layers"] or {}).keys())} for r in rows],
        columns=["run_id", "kind", "created", "inputs", "parameters", "layers"],
    )
    return frame


def read_run(engine: sa.Engine, run_id: str | None = None, *, kind: str | None = None, label: str = "store") -> Run:
    """A run by id, or the newest run of ``kind``.

    Raises
    ------
    StoreError
        When there is no such run.
    """
    stmt = sa.select(runs)
    if run_id is not None:
        stmt = stmt.where(runs.c.run_id == run_id)
    elif kind is not None:
        stmt = stmt.where(runs.c.kind == kind).order_by(runs.c.created.desc(), runs.c.run_id.desc()).limit(1)
    else:
        raise ValueError("give a run_id or a kind")
    with read_connection(engine, label) as conn:
        head = conn.execute(stmt).mappings().first()
        if head is None:
            what = f"run {run_id}" if run_id else f"{kind} run"
            raise StoreError(f"{label}: no {what} in the store")
        rows = conn.execute(
            sa.select(run_rows.c.layer, run_rows.c.attrs, run_rows.c.geom)
            .where(run_rows.c.run_id == head["run_id"])
            .order_by(run_rows.c.layer, run_rows.c.row_no)
        ).all()
    described = head["layers"] or {}
    layers = {}
    for name, description in described.items():
        mine = [r for r in rows if r[0] == name]
        layers[name] = from_rows([r[1] for r in mine], [r[2] for r in mine], description)
    return Run(
        run_id=head["run_id"],
        kind=head["kind"],
        created=head["created"],
        inputs=dict(head["inputs"] or {}),
        parameters=dict(head["parameters"] or {}),
        layers=layers,
    )


def latest_run_ids(engine: sa.Engine, *, label: str = "store") -> dict[str, str]:
    """The newest run id of each kind."""
    frame = list_runs(engine, label=label)
    return {} if frame.empty else frame.drop_duplicates("kind").set_index("kind")["run_id"].to_dict()
