"""Command line: a thin typer shell over the gridmgmt API.

Every command takes ``--district path/to/district.toml``; errors become one clear line per
problem (file, row, field, fix) and exit code 1, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from gridmgmt._errors import GridMgmtError, InputError

app = typer.Typer(
    help="gridmgmt: balanced service grids, daily joint patrol routes and risk hotspots for a district "
    "tobacco monopoly bureau (烟草专卖局网格化管理).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)

DEMO_DISTRICT = Path("data/demo/district.toml")

DistrictOpt = Annotated[
    Path, typer.Option("--district", "-d", help="The district's settings file (names every input file).")
]
OutDirOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder the outputs are written to (created if missing).")]
LangOpt = Annotated[str, typer.Option("--lang", help="Label language of maps and sheets: zh or en.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same inputs and seed give the same outputs.")]


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


def _fail(exc: GridMgmtError) -> None:
    problems = getattr(exc, "problems", None)
    if isinstance(exc, InputError) and problems:
        for problem in problems:
            console.print(f"[red]error:[/red] {problem}", highlight=False, markup=True)
        if len(problems) > 1:
            console.print(f"[red]{len(problems)} problems[/red]; nothing was written.")
    else:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(code=1)


@app.command("demo-data")
def demo_data(
    out: OutDirOpt = Path("data/demo"),
    seed: SeedOpt = 7,
    retailers: Annotated[int, typer.Option(help="Number of retailers to generate.")] = 5000,
) -> None:
    """Generate the synthetic Yunyan District demo (boundary, streets, retailers, staff, two years of history)."""
    from gridmgmt.demo import generate_demo

    try:
        files = generate_demo(out, seed=seed, n_retailers=retailers)
    except GridMgmtError as exc:
        _fail(exc)
    console.print(f"wrote {len(files)} files to {out}")


@app.command()
def validate(
    retailers: Annotated[
        Path, typer.Option("--retailers", help="Retailer table (CSV UTF-8/GBK, GeoJSON, GPKG, Parquet).")
    ],
    events: Annotated[Path | None, typer.Option("--events", help="Event log to check against the retailers.")] = None,
    district: Annotated[
        Path | None, typer.Option("--district", "-d", help="district.toml: boundary and settings.")
    ] = None,
    coords: Annotated[
        str | None, typer.Option("--coords", help="Coordinate system of the input: wgs84, gcj02 or bd09.")
    ] = None,
) -> None:
    """Check input files and report ALL problems at once; exit 0 only when the input is usable."""
    from gridmgmt.validate import validate_inputs

    try:
        report = validate_inputs(retailers, events=events, district=district, coords=coords)
    except GridMgmtError as exc:
        _fail(exc)
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{problem.severity}:[/{colour}] {problem}", highlight=False)
    console.print(report.summary(), highlight=False)
    raise typer.Exit(code=0 if report.ok else 1)


@app.command()
def demo(
    out: OutDirOpt = Path("out"),
    district: DistrictOpt = DEMO_DISTRICT,
    seed: SeedOpt = 0,
) -> None:
    """Run the whole loop on the bundled demo district and write every output into OUT."""
    from gridmgmt.pipeline import run_demo

    try:
        written = run_demo(district, out, seed=seed, console=console)
    except GridMgmtError as exc:
        _fail(exc)
    console.print(f"[green]done[/green]: {len(written)} outputs in {out}/")
    for path in written:
        console.print(f"  {path}", highlight=False)


def main() -> None:
    """Entry point of the ``gridmgmt`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; earlier outputs are intact")
        sys.exit(130)
