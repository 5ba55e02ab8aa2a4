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
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.vocab import LANGS

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
    typer.Option(
        "--out", "-o", help="Folder to write into (default: one in the district folder's out/, never the current one)."
    ),
]
MapOutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder to write the map into (default: the district folder's out/)."),
]
#: Endings of the file paths `--out` took before it always named a folder (still accepted, with a note).
FILE_SUFFIXES = (".html", ".htm", ".csv", ".geojson", ".json", ".gpkg")


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


#: Libraries whose INFO lines say nothing to a user (plugin set-up, file drivers); -vv shows them.
NOISY_LOGGERS = ("alembic", "fiona", "pyogrio", "matplotlib", "numexpr", "urllib3", "asyncio")


def log_level(verbose: int, quiet: bool) -> int:
    """The logging level of the command line: warnings by default, INFO with -v, DEBUG with -vv, errors with -q."""
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


@app.callback()
def _setup(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="Show progress logs (INFO); -vv also debug logs and every library's."
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors: no warnings, no progress.")] = False,
) -> None:
    level = log_level(verbose, quiet)
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if level <= logging.DEBUG else max(level, logging.WARNING))


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
    text = f"{command} failed: {type(exc).__name__}: {exc} ({where})"
    console.print(f"[red]error:[/red] {escape(text)}", highlight=False, emoji=False)
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
    """The grid plan and its district: a grids.gpkg records the district.toml it was built for.

    Without ``grids``, the district's current grids (its last build, or the store's last published
    grids); an error saying to run `grids build` when it has none.
    """
    from gridmgmt.ops.district import no_grids_error
    from gridmgmt.ops.grids import current_grids, read_plan

    if grids is None:
        district = district or DEMO_DISTRICT
        plan = current_grids(district, district_store(district, None))
        if plan is None:
            raise no_grids_error(district)
    else:
        plan = read_plan(grids)
    if district is None and plan.district:
        district = Path(plan.district)
    if district is None and need_district:
        raise GridMgmtError(f"{grids}: the plan does not say which district it is for; give --district")
    return plan, district


def district_out(district: Path, out: Path | None, name: str) -> Path:
    """``out`` when given, else ``<district folder>/out/<name>``: results belong to their district."""
    return out if out is not None else district.resolve().parent / "out" / name


def out_file(out: Path | None, default_folder: Path, name: str) -> Path:
    """The file ``name`` in the ``--out`` folder (default ``default_folder``).

    ``--out`` always names a folder; a path ending like a file (``risk_map.html``, ``tasks.csv``) is
    what older versions took, and is still written as given, with a note.
    """
    if out is None:
        return default_folder / name
    if out.suffix.lower() in FILE_SUFFIXES and not out.is_dir():
        console.print(
            f"note: --out names a folder now (it writes {name} there); {out} is written as given this time",
            highlight=False,
        )
        return out
    return out / name


def current_grid_frame(grids: Path | None, district: Path, store: str | None):
    """The grids a command works with: ``--grids`` when given, else the district's current grids (None: none).

    As :func:`gridmgmt.grids.plan.load_grids` gives them (polygons, ``attrs["assignment"]``).
    """
    from gridmgmt.ops.grids import grid_frame

    return grid_frame(grids, district, store)


def district_store(district: Path, store: str | None) -> str:
    """``--store``, else ``$GRIDMGMT_STORE``, else ``<district folder>/out/store.sqlite``."""
    return store or os.environ.get("GRIDMGMT_STORE") or str(district.resolve().parent / "out" / "store.sqlite")


def fail(exc: GridMgmtError) -> NoReturn:
    """Print an input error's problems, one a line, as plain text (user text is never markup), and exit 1."""
    problems = getattr(exc, "problems", None)
    if isinstance(exc, InputError) and problems:
        for problem in problems:
            console.print(f"[red]error:[/red] {escape(str(problem))}", highlight=False, emoji=False)
        if len(problems) > 1:
            console.print(f"[red]{len(problems)} problems[/red]; nothing was written.")
    else:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, emoji=False)
    raise typer.Exit(code=1)


def split_list(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


DateOpt = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="Day YYYY-MM-DD; only what was known before it is used (default: the day after the district's "
        "history, else today).",
    ),
]


def parse_day(value: str) -> datetime:
    """The start of the day ``YYYY-MM-DD`` (a time after it is allowed): ``--date``, ``--from``, ``--to``."""
    try:
        return datetime.combine(datetime.fromisoformat(value.strip()).date(), datetime.min.time())
    except (ValueError, TypeError):
        raise typer.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-01") from None


def check_date(value: str) -> str:
    """``value`` as ``YYYY-MM-DD`` (see :func:`parse_day`)."""
    return parse_day(value).date().isoformat()


def day_or_first(value: str | None, district) -> str:
    """``--date`` checked, else the district's first day to plan (:func:`gridmgmt.ops.district.first_planning_day`)."""
    from gridmgmt.ops.district import first_planning_day

    return check_date(value) if value else first_planning_day(district)


def main() -> None:
    """Entry point of the ``gridmgmt`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; earlier outputs are intact")
        sys.exit(130)
