"""Recording runs: the one place an operation's result becomes a run of the shared store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from gridmgmt.inputs.district import District
from gridmgmt.store import SharedStore, file_hash, open_store


def district_inputs(district: District) -> dict[str, str]:
    """SHA-256 of every input file the district names, for a run's provenance."""
    files = {f: district.settings.path(f) for f in dataclasses.asdict(district.settings.files)}
    return {name: file_hash(path) for name, path in files.items() if path.is_file()}


def record_run(
    store: str | Path | SharedStore,
    kind: str,
    layers: Mapping[str, pd.DataFrame],
    *,
    district: District | None = None,
    parameters: Mapping[str, Any] | None = None,
    assignment_from: str | date | None = None,
) -> str:
    """Store an operation's result as a new run of ``kind``; return its id.

    ``store`` is a path or URL (opened for this run) or an open store (the service's). With
    ``district``, the run records the SHA-256 of its input files; with ``assignment_from``
    (YYYY-MM-DD, a grids run) its ``assignment`` layer becomes the current grid assignment from that day.
    """
    inputs = district_inputs(district) if district is not None else None
    options: dict[str, Any] = {"inputs": inputs, "parameters": parameters, "assignment_from": assignment_from}
    if isinstance(store, SharedStore):
        return store.write_run(kind, layers, **options)
    with open_store(store) as shared:
        return shared.write_run(kind, layers, **options)


def existing_store(store: str | Path | None) -> str | None:
    """``store`` when it names an existing store (a SQLite file that exists, or a server URL), else None.

    Reading from a store must not create an empty one as a side effect.
    """
    if not store:
        return None
    text = str(store)
    if "://" in text and not text.startswith("sqlite:"):
        return text
    path = Path(text.removeprefix("sqlite:///")).expanduser()
    return text if path.is_file() else None
