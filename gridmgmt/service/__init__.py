"""The bureau's shared web service (``gridmgmt serve``): pages and a JSON API over the shared store.

:func:`create_app` builds the FastAPI application for one district and its store; users and
roles live in :mod:`gridmgmt.service.accounts`, permissions in :mod:`gridmgmt.permissions`.

The two names load the application on first use (PEP 562): ``gridmgmt users add`` imports
:mod:`gridmgmt.service.accounts` without FastAPI, pandas or geopandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridmgmt.service.app import create_app
    from gridmgmt.service.deps import ServiceOptions

_HOMES = {"ServiceOptions": "deps", "create_app": "app"}
__all__ = ["ServiceOptions", "create_app"]


def __getattr__(name: str) -> object:
    """Load ``name``'s module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
