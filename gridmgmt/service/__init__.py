"""The bureau's shared web service (``gridmgmt serve``): pages and a JSON API over the shared store.

:func:`create_app` builds the FastAPI application for one district and its store; users and
roles live in :mod:`gridmgmt.service.accounts`, permissions in :mod:`gridmgmt.permissions`.
"""

from __future__ import annotations

from gridmgmt.service.app import create_app
from gridmgmt.service.deps import ServiceOptions

__all__ = ["ServiceOptions", "create_app"]
