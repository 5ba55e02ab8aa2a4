"""Command line: a thin typer shell over the gridmgmt API, one module per command group.

Every command takes ``--district path/to/district.toml``; errors become one clear line per
problem (file, row, field, fix) and exit code 1, never a traceback.
"""

from __future__ import annotations

# importing the command modules registers their commands on the app
from gridmgmt.cli import district, grids, loop, patrol, province, risk, service  # noqa: F401
from gridmgmt.cli.common import app, main

__all__ = ["app", "main"]
