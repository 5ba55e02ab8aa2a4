"""The command line's shared parts: the app, option types, the error-handling decorator, defaults.

Every command takes ``--district path/to/district.toml``; errors become one clear line per
problem (file, row, field, fix) and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec

import typer
from rich.console import Console
from rich.logging import RichHandler

from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.config import LANGS

app = typer.Typer(
    help="gridmgmt: balanced service grids, daily joint patrol routes and risk hotspots for a district "
    "tobacco monopoly bureau (烟草专卖局网格化管理).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
P = ParamSpec("P")

DEMO_DISTRICT = Path("data/demo/district.toml")

DistrictOpt = Annotated[
    Path, typer.Option("--district", "-d", help="The district's settings file (names every input file).")
]
OutDirOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder the outputs are written to (created if missing).")]
DistrictOutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Where to write (default: the district folder's out/, never the current folder)."),
]


def _check_lang(value: str | None) -> str | None:
    """``--lang`` is zh or en; not given (None) means the district's ``[district] lang``."""
    if value is not None and value not in LANGS:
        raise typer.BadParameter(f"{value!r} is not a label language; use {' or '.join(LANGS)}")
    return value


LangOpt = Annotated[
    str | None,
    typer.Option(
        "--lang",
        callback=_check_lang,
        help="Label language of maps and sheets: zh or en (default: the district's [district] lang).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same inputs and seed give the same outputs.")]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The shared store: a SQLite file or postgresql://user@host/db (default: $GRIDMGMT_STORE, else "
        "the district folder's out/store.sqlite).",
    ),
]
TilesOpt = Annotated[
    str, typer.Option("--tiles", help="Basemap: none (offline), osm or amap (both need internet to show tiles).")
]


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("fiona", "pyogrio", "matplotlib", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def command(group: typer.Typer, name: str | None = None) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register a command on ``group`` whose errors end as one line each and exit code 1.

    A :class:`GridMgmtError` prints its problems (file, row, field, fix). Anything unexpected prints
    one line naming the command and the failure, with the full traceback written to a log file.
    """

    def register(func: Callable[P, None]) -> Callable[P, None]:
        command = " ".join(filter(None, [group.info.name, name or func.__name__.replace("_", "-")]))

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                func(*args, **kwargs)
            except GridMgmtError as exc:
                fail(exc)
            except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
                raise
            except Exception as exc:  # the CLI boundary: never a bare traceback
                crash(command, exc)

        group.command(name)(run)
        return run

    return register


def crash(command: str, exc: Exception) -> NoReturn:
    """One line for an unexpected failure; the traceback goes to a log file the line names."""
    log_dir = Path(tempfile.gettempdir()) / "gridmgmt-logs"
    log_file = log_dir / f"{command.replace(' ', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"details in {log_file}"
    except OSError:
        where = "run with --verbose for details"
    console.print(f"[red]error:[/red] {command} failed: {type(exc).__name__}: {exc} ({where})", highlight=False)
    raise typer.Exit(code=1)


GridPlanOpt = Annotated[
    Path | None,
    typer.Option("--grids", help="grids.gpkg (or its folder) from `grids build` (default: the district's out/grids)."),
]
PlanDistrictOpt = Annotated[
    Path | None,
    typer.Option("--district", "-d", help="district.toml (default: the one the grids were built for, else the demo)."),
]


def plan_and_district(grids: Path | None, district: Path | None, *, need_district: bool = True):
    """The grid plan and its district: a grids.gpkg records the district.toml it was built for."""
    from gridmgmt.grids.plan import read_grid_plan

    if grids is None:
        district = district or DEMO_DISTRICT
        grids = district_out(district, None, "grids")
    plan = read_grid_plan(grids)
    if district is None and plan.district:
        district = Path(plan.district)
    if district is None and need_district:
        raise GridMgmtError(f"{grids}: the plan does not say which district it is for; give --district")
    return plan, district


def district_out(district: Path, out: Path | None, name: str) -> Path:
    """``out`` when given, else ``<district folder>/out/<name>``: results belong to their district."""
    return out if out is not None else district.resolve().parent / "out" / name


def district_store(district: Path, store: str | None) -> str:
    """``--store``, else ``$GRIDMGMT_STORE``, else ``<district folder>/out/store.sqlite``."""
    return store or os.environ.get("GRIDMGMT_STORE") or str(district.resolve().parent / "out" / "store.sqlite")


def fail(exc: GridMgmtError) -> NoReturn:
    problems = getattr(exc, "problems", None)
    if isinstance(exc, InputError) and problems:
        for problem in problems:
            console.print(f"[red]error:[/red] {problem}", highlight=False, markup=True)
        if len(problems) > 1:
            console.print(f"[red]{len(problems)} problems[/red]; nothing was written.")
    else:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(code=1)


def split_list(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


DateOpt = Annotated[str, typer.Option("--date", help="As-of date YYYY-MM-DD: only what was known before it is used.")]


def check_date(value: str) -> str:
    import pandas as pd

    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError):
        raise typer.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-01") from None


def main() -> None:
    """Entry point of the ``gridmgmt`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; earlier outputs are intact")
        sys.exit(130)
