"""The shared log and the joint-work loop: `events`, `store`, `tasks`, `report`."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridmgmt.cli.common import (
    DEMO_DISTRICT,
    DateOpt,
    DistrictOpt,
    DistrictOutOpt,
    StoreOpt,
    app,
    check_date,
    command,
    console,
    current_grid_frame,
    day_or_first,
    district_out,
    district_store,
    out_file,
    parse_day,
    split_list,
)
from gridmgmt.vocab import DEPARTMENTS, EVENT_TYPES, OUTCOMES, SEVERITIES, default_department, listed

events_app = typer.Typer(
    name="events", help="The shared event log both departments write (共享事件日志).", no_args_is_help=True
)
app.add_typer(events_app, name="events")
tasks_app = typer.Typer(
    name="tasks", help="Joint-visit tasks opened by tip-offs, complaints and reports (联合任务).", no_args_is_help=True
)
app.add_typer(tasks_app, name="tasks")


@command(events_app, "add")
def events_add(
    type_: Annotated[str, typer.Option("--type", help=f"{listed(EVENT_TYPES)}.")],
    retailer: Annotated[str, typer.Option("--retailer", help="The retailer's licence number (retailer_id).")],
    department: Annotated[str, typer.Option("--department", help=f"{listed(DEPARTMENTS)}.")] = "",
    time: Annotated[str, typer.Option("--time", help="When it happened, YYYY-MM-DDTHH:MM (default: now).")] = "",
    outcome: Annotated[str, typer.Option("--outcome", help=f"For inspections: {listed(OUTCOMES)}.")] = "",
    severity: Annotated[str, typer.Option("--severity", help=f"For violations: {listed(SEVERITIES)}.")] = "",
    note: Annotated[str, typer.Option("--note", help="Free text: what was reported or found.")] = "",
    corrects: Annotated[str, typer.Option("--corrects", help="event_id of an earlier event this one corrects.")] = "",
    event_id: Annotated[str, typer.Option("--event-id", help="Own id for the event (default: generated).")] = "",
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Append one event to the shared log; an inspection with outcome violation also records the violation."""
    from gridmgmt.ops.events import add_events

    row = {
        "event_id": event_id,
        "retailer_id": retailer,
        "time": time or datetime.now().strftime("%Y-%m-%dT%H:%M"),
        "type": type_,
        "department": department or default_department(type_),
        "outcome": outcome,
        "severity": severity,
        "note": note,
        "corrects": corrects,
    }
    added = add_events(district, district_store(district, store), [row], file="command line", derive_violations=True)
    for event in added:
        line = f"added {event['event_id']}: {event['type']} at {event['retailer_id']} ({event['time']:%Y-%m-%d %H:%M})"
        console.print(line, markup=False, emoji=False)


@command(events_app, "import")
def events_import(
    file: Annotated[Path, typer.Argument(help="Events to append: CSV (UTF-8/GBK), GeoJSON, GPKG or Parquet.")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Append many events from a file, all or nothing: one bad row adds nothing and names the row."""
    from gridmgmt.ops.store_district import import_events

    result = import_events(district, district_store(district, store), file)
    console.print(result.summary(str(file)), highlight=False)


#: The columns ``events list`` shows as a table (csv and json give every column).
LIST_COLUMNS = ("event_id", "time", "retailer_id", "type", "department", "outcome", "severity", "note", "corrected_by")


@command(events_app, "list")
def events_list(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    since: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (default: none).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only these types, comma-separated.")] = None,
    retailer: Annotated[str | None, typer.Option("--retailer", help="Only this retailer's events.")] = None,
    format_: Annotated[str, typer.Option("--format", help="table, csv or json (to standard output).")] = "table",
) -> None:
    """List events of the shared log (indexed reads: fast on millions of events)."""
    from gridmgmt.ops.events import list_events

    if format_ not in ("table", "csv", "json"):
        raise typer.BadParameter(f"{format_!r}: use table, csv or json")
    start = parse_day(since) if since else datetime.combine(date.today() - timedelta(days=30), datetime.min.time())
    events = list_events(
        district_store(district, store),
        start,
        parse_day(until) if until else None,
        types=split_list(type_),
        retailer_ids=split_list(retailer),
    )
    if format_ == "csv":
        typer.echo(csv_text(events), nl=False)
    elif format_ == "json":
        typer.echo(json.dumps(events, ensure_ascii=False, default=lambda t: t.isoformat()))
    else:
        from rich.table import Table

        table = Table(title=f"{len(events)} events since {start:%Y-%m-%d}")
        for column in LIST_COLUMNS:
            table.add_column(column)
        for event in events:
            table.add_row(*(str(event.get(c, "")) for c in LIST_COLUMNS))
        Console(markup=False, emoji=False).print(table)


def csv_text(rows: list[dict]) -> str:
    """``rows`` as CSV text: a header of every key in first-seen order, one line a row."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


store_app = typer.Typer(
    name="store",
    help="The shared store both departments write: init, backup, export (共享数据库).",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")


@command(store_app, "init")
def store_init(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            "--valid-from",
            help="First day of the staff pairs and grid assignment, YYYY-MM-DD (default: the first event's day, "
            "else today).",
        ),
    ] = None,
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            help="PostgreSQL: the role the service and commands connect as (created when missing): SELECT and "
            "INSERT on the log, owning nothing. Run as the owner role; again after an upgrade.",
        ),
    ] = None,
) -> None:
    """Create the shared store and load the district's files (retailers, staff, pairs, layers, events), once."""
    from gridmgmt.ops.store_district import init_store

    start = check_date(valid_from) if valid_from else None
    with console.status("loading the district into the store..."):
        done = init_store(district, district_store(district, store), valid_from=start, app_role=app_role)
    if done.role:
        granted = "created and granted" if done.role_created else "granted"
        console.print(f"{done.label}: role {done.role} {granted}", highlight=False)
    if done.counts is not None:
        loaded = ", ".join(f"{n:,} {name}" for name, n in done.counts.items())
        console.print(f"{done.label}: {loaded}", highlight=False)


@command(store_app, "backup")
def store_backup(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write.")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """An online backup: a consistent copy of the store while others go on writing."""
    from gridmgmt.ops.store_admin import backup_store

    label, path = backup_store(district_store(district, store), to)
    console.print(f"backed up {label} to {path}", highlight=False)


@command(store_app, "export")
def store_export(
    to: Annotated[Path, typer.Option("--to", help="The GeoPackage to write (FILE.gpkg).")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Every current layer of the store in one GeoPackage, for QGIS or ArcGIS users."""
    from gridmgmt.ops.store_district import export_store

    path, layers = export_store(district_store(district, store), to)
    console.print(f"wrote {len(layers)} layers to {path}: {', '.join(layers)}", highlight=False)


@command(tasks_app, "list")
def tasks_list(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="As of YYYY-MM-DD (default: the day after the history_end, else today)."),
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only tasks past their deadline and still open.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also closed tasks (default: open ones only).")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the list as tasks.csv into this folder.")
    ] = None,
) -> None:
    """List joint-visit tasks with deadline, status and the responsible pair."""
    store = district_store(district, store)
    from rich.table import Table

    from gridmgmt.config import load_settings
    from gridmgmt.ops.tasks import task_rows, write_tasks_csv

    if date is None:  # the settings only: listing tasks never loads the district's whole history
        end = load_settings(district).history_end
        day = parse_day(str(end)) + timedelta(days=1) if end else datetime.now()
        date = day.date().isoformat()
    date = check_date(date)
    tasks = task_rows(district, store, as_of=parse_day(date).date())
    if overdue:
        tasks = [t for t in tasks if t["status"] == "overdue"]
    elif not all_:
        tasks = [t for t in tasks if t["status"] in ("open", "overdue")]
    if out is not None:
        console.print(f"wrote {write_tasks_csv(tasks, out_file(out, out, 'tasks.csv'))}", highlight=False)
    table = Table(title=f"tasks as of {date}: {len(tasks)}")
    columns = ("task_id", "retailer_id", "type", "opened", "deadline", "status")
    owners = ("grid_id", "customer_manager", "monopoly_officer")
    for column in (*columns, *owners):
        table.add_column(column)
    for task in tasks:
        table.add_row(
            task["task_id"],
            task["retailer_id"],
            task["type"],
            f"{task['opened']:%Y-%m-%d %H:%M}",
            f"{task['deadline']:%Y-%m-%d}",
            task["status"],
            *(str(task[c]) for c in owners),
        )
    Console(markup=False, emoji=False).print(table)


report_app = typer.Typer(
    name="report", help="Reports for managers: responsibility and blind spots (责任落实).", no_args_is_help=True
)
app.add_typer(report_app, name="report")


@command(report_app, "responsibility")
def report_responsibility(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    date: DateOpt = None,
    grids: Annotated[
        Path | None,
        typer.Option(
            "--grids",
            help="grids.gpkg or its folder (default: the district's current grids, else the retailers' grid_id).",
        ),
    ] = None,
    out: DistrictOutOpt = None,
) -> None:
    """Grids without a full pair, retailers outside any grid or past their cycle, overdue tasks; per grid and person."""
    out = district_out(district, out, "responsibility")
    store = district_store(district, store)
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.loop import report_responsibility

    d = load_district(district, store=store)
    date = day_or_first(date, d)
    report, written = report_responsibility(d, out, as_of=date, grids=current_grid_frame(grids, district, store))
    console.print(report.summary(), highlight=False)
    console.print(f"{len(written)} tables in {out}/")
