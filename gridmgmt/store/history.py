"""Who was responsible when: retailers' licence periods, grid assignments and staff pairs over time.

Periods are half-open, ``[valid_from, valid_to)`` (``valid_to`` None: still valid), so a change
on a day ends the old period and starts the new one on that same day. Publishing a new
assignment or new pairs closes only what changed; everything earlier stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from gridmgmt.coords import WGS84
from gridmgmt.store.engine import read_connection
from gridmgmt.store.frames import from_rows, to_rows
from gridmgmt.store.owners import valid_on as _valid_on
from gridmgmt.store.schema import assignments, features, licences, pairs, retailers, staff

_RETAILER_COLUMNS = ("retailer_id", "name", "address", "lon", "lat")


@dataclass(frozen=True)
class ResponsiblePair:
    """The grid and the pair (customer manager, monopoly officer) responsible for a retailer on a date."""

    retailer_id: str
    grid_id: str
    customer_manager: str
    monopoly_officer: str
    on_date: date


def _day(value: str | date | pd.Timestamp) -> date:
    return pd.Timestamp(value).date()


def write_retailers(conn: sa.Connection, frame: pd.DataFrame, *, opened_column: str = "licence_date") -> int:
    """Insert retailers (new ids only) and an open licence period for each; return how many were new.

    ``opened_column`` (if present) gives each licence's first day; otherwise the period is open-ended
    into the past. Geometry comes from the GeoDataFrame's geometry, else from ``lon``/``lat``.
    """
    if not isinstance(frame, gpd.GeoDataFrame) and {"lon", "lat"} <= set(frame.columns):
        frame = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84)
    known = set(conn.execute(sa.select(retailers.c.retailer_id)).scalars())
    new = frame.loc[~frame["retailer_id"].astype(str).isin(known)]
    if new.empty:
        return 0
    attrs, geoms = to_rows(new)
    rows, periods = [], []
    for record, geom in zip(attrs, geoms, strict=True):
        rid = str(record["retailer_id"])
        rows.append(
            {
                "retailer_id": rid,
                "name": str(record.get("name") or ""),
                "address": str(record.get("address") or ""),
                "lon": record.get("lon"),
                "lat": record.get("lat"),
                "attrs": {k: v for k, v in record.items() if k not in _RETAILER_COLUMNS},
                "geom": geom,
            }
        )
        opened = record.get(opened_column)
        periods.append({"retailer_id": rid, "opened": _day(opened) if opened else None, "closed": None})
    conn.execute(retailers.insert(), rows)
    conn.execute(licences.insert(), periods)
    return len(rows)


def close_licence(conn: sa.Connection, retailer_id: str, closed: str | date) -> None:
    """End a retailer's open licence period on ``closed`` (its first day without a licence)."""
    conn.execute(
        licences.update()
        .where(licences.c.retailer_id == retailer_id, licences.c.closed.is_(None))
        .values(closed=_day(closed))
    )


def _publish(
    conn: sa.Connection, table: sa.Table, key: str, frame: pd.DataFrame, values: list[str], valid_from: date, **extra
) -> int:
    """Close the open periods of ``table`` whose ``values`` change and insert the new ones; return changes."""
    current = {
        row[0]: row
        for row in conn.execute(
            sa.select(table.c[key], *(table.c[v] for v in values), table.c.id, table.c.valid_from).where(
                table.c.valid_to.is_(None)
            )
        )
    }
    inserts, changed = [], 0
    for record in frame[[key, *values]].astype(str).to_dict("records"):
        old = current.get(record[key])
        if old is not None and [str(v) for v in old[1 : 1 + len(values)]] == [record[v] for v in values]:
            continue
        changed += 1
        if old is not None:
            old_id, old_from = old[-2], old[-1]
            if old_from >= valid_from:  # published again on the same day (or back-dated): replace
                conn.execute(table.update().where(table.c.id == old_id).values(**{v: record[v] for v in values}))
                continue
            conn.execute(table.update().where(table.c.id == old_id).values(valid_to=valid_from))
        inserts.append({**record, "valid_from": valid_from, "valid_to": None, **extra})
    if inserts:
        conn.execute(table.insert(), inserts)
    return changed


def publish_assignment(
    conn: sa.Connection, assignment: pd.DataFrame, valid_from: str | date, *, run_id: str | None = None
) -> int:
    """Make ``assignment`` (``retailer_id``, ``grid_id``) current from ``valid_from``; return retailers moved."""
    frame = assignment.loc[assignment["grid_id"].notna() & (assignment["grid_id"].astype(str) != "")]
    return _publish(conn, assignments, "retailer_id", frame, ["grid_id"], _day(valid_from), run_id=run_id)


def publish_pairs(conn: sa.Connection, frame: pd.DataFrame, valid_from: str | date) -> int:
    """Make pairs (``grid_id``, ``customer_manager``, ``monopoly_officer``) current from ``valid_from``."""
    return _publish(conn, pairs, "grid_id", frame, ["customer_manager", "monopoly_officer"], _day(valid_from))


def pairs_of_grids(grids: pd.DataFrame | None) -> pd.DataFrame:
    """The pairs a grids layer names (``grid_id``, ``customer_manager``, ``monopoly_officer``), both members set.

    Empty when the layer is missing or names no pairs (grids made before pairs were matched).
    """
    columns = ["grid_id", "customer_manager", "monopoly_officer"]
    if grids is None or not set(columns) <= set(grids.columns):
        return pd.DataFrame(columns=columns)
    rows = pd.DataFrame(grids[columns]).astype({"grid_id": str})
    members = rows[["customer_manager", "monopoly_officer"]].fillna("").astype(str)
    return rows.loc[members.ne("").all(axis=1)].reset_index(drop=True)


def pairs_from_staff(frame: pd.DataFrame) -> pd.DataFrame:
    """Each grid's pair from a staff table (``staff_id``, ``department``, ``grid_id``): first of each department."""
    rows = frame.loc[frame["grid_id"].notna() & (frame["grid_id"].astype(str) != "")].copy()
    rows["grid_id"] = rows["grid_id"].astype(str)
    first = rows.groupby(["grid_id", "department"])["staff_id"].first().unstack()
    out = pd.DataFrame(
        {
            "grid_id": first.index,
            "customer_manager": first.get("marketing", pd.Series(index=first.index, dtype=object)).to_numpy(),
            "monopoly_officer": first.get("monopoly", pd.Series(index=first.index, dtype=object)).to_numpy(),
        }
    )
    return out.fillna("")


def write_staff(conn: sa.Connection, frame: pd.DataFrame) -> int:
    """Insert staff members (new ids only); return how many were new."""
    known = set(conn.execute(sa.select(staff.c.staff_id)).scalars())
    new = frame.loc[~frame["staff_id"].astype(str).isin(known)]
    attrs, _ = to_rows(pd.DataFrame(new))
    rows = [
        {
            "staff_id": str(a["staff_id"]),
            "name": str(a.get("name") or ""),
            "department": str(a.get("department") or ""),
            "attrs": {k: v for k, v in a.items() if k not in ("staff_id", "name", "department")},
        }
        for a in attrs
    ]
    if rows:
        conn.execute(staff.insert(), rows)
    return len(rows)


def write_features(conn: sa.Connection, layer: str, frame: pd.DataFrame) -> int:
    """Replace a feature layer (boundary, depots, subdistricts, schools) with ``frame``."""
    conn.execute(features.delete().where(features.c.layer == layer))
    attrs, geoms = to_rows(frame)
    rows = [
        {"layer": layer, "feature_no": n, "attrs": a, "geom": g}
        for n, (a, g) in enumerate(zip(attrs, geoms, strict=True))
    ]
    if rows:
        conn.execute(features.insert(), rows)
    return len(rows)


def read_features(engine: sa.Engine, layer: str, *, label: str = "store") -> pd.DataFrame:
    """A feature layer as written (GeoDataFrame in WGS-84); empty when the layer is absent."""
    stmt = sa.select(features.c.attrs, features.c.geom).where(features.c.layer == layer).order_by(features.c.feature_no)
    with read_connection(engine, label) as conn:
        rows = conn.execute(stmt).all()
    return from_rows([r[0] for r in rows], [r[1] for r in rows])


def feature_layers(engine: sa.Engine, *, label: str = "store") -> list[str]:
    """Names of the stored feature layers."""
    with read_connection(engine, label) as conn:
        return sorted(conn.execute(sa.select(features.c.layer).distinct()).scalars())


def read_retailers(engine: sa.Engine, *, label: str = "store") -> gpd.GeoDataFrame:
    """Retailers with their attributes and point geometry (WGS-84)."""
    stmt = sa.select(retailers).order_by(retailers.c.retailer_id)
    with read_connection(engine, label) as conn:
        rows = conn.execute(stmt).mappings().all()
    attrs = [{**{c: r[c] for c in _RETAILER_COLUMNS}, **(r["attrs"] or {})} for r in rows]
    frame = from_rows(attrs, [r["geom"] for r in rows], {"geometry": True})
    return frame


def read_staff(engine: sa.Engine, *, label: str = "store") -> pd.DataFrame:
    """Staff members with their attributes."""
    with read_connection(engine, label) as conn:
        rows = conn.execute(sa.select(staff).order_by(staff.c.staff_id)).mappings().all()
    return pd.DataFrame(
        [
            {"staff_id": r["staff_id"], "name": r["name"], "department": r["department"], **(r["attrs"] or {})}
            for r in rows
        ]
    )


def assignment_on(engine: sa.Engine, on_date: str | date, *, label: str = "store") -> pd.DataFrame:
    """Every retailer's grid on a date (``retailer_id``, ``grid_id``)."""
    stmt = sa.select(assignments.c.retailer_id, assignments.c.grid_id).where(_valid_on(assignments, _day(on_date)))
    with read_connection(engine, label) as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["retailer_id", "grid_id"])


def pairs_on(engine: sa.Engine, on_date: str | date, *, label: str = "store") -> pd.DataFrame:
    """Every grid's pair on a date (``grid_id``, ``customer_manager``, ``monopoly_officer``)."""
    stmt = sa.select(pairs.c.grid_id, pairs.c.customer_manager, pairs.c.monopoly_officer).where(
        _valid_on(pairs, _day(on_date))
    )
    with read_connection(engine, label) as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["grid_id", "customer_manager", "monopoly_officer"])


def responsible_pair(
    engine: sa.Engine, retailer_id: str, on_date: str | date, *, label: str = "store"
) -> ResponsiblePair | None:
    """The grid and pair responsible for a retailer on a date; None when unlicensed or unassigned then.

    Licence periods are checked when the store has any for the retailer (after ``store init``).
    """
    day = _day(on_date)
    licensed = sa.exists().where(
        licences.c.retailer_id == retailer_id,
        sa.or_(licences.c.opened.is_(None), licences.c.opened <= day),
        sa.or_(licences.c.closed.is_(None), licences.c.closed > day),
    )
    any_licence = sa.exists().where(licences.c.retailer_id == retailer_id)  # none recorded: not checked
    stmt = (
        sa.select(assignments.c.grid_id, pairs.c.customer_manager, pairs.c.monopoly_officer)
        .select_from(
            assignments.outerjoin(pairs, sa.and_(pairs.c.grid_id == assignments.c.grid_id, _valid_on(pairs, day)))
        )
        .where(assignments.c.retailer_id == retailer_id, _valid_on(assignments, day), sa.or_(licensed, ~any_licence))
    )
    with read_connection(engine, label) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    return ResponsiblePair(retailer_id, str(row[0]), row[1] or "", row[2] or "", day)
