"""The synthetic demo district: a realistic Yunyan District (Guiyang) generated from a seed.

Only the boundary is real (data/demo/boundary.geojson); streets, retailers, schools, staff,
the two-year event log and the weekly orders are synthetic. The event log and the orders
come from a hidden risk process (documented in data/demo/README.md) whose per-retailer
expected violation rate is written to ``ground_truth.csv`` so risk models can be scored.

Modules, in the order ``generate_demo`` uses them: ``geography`` (outline, park, old town,
subdistricts), ``roads`` (street network and its OSM XML), ``population`` (schools,
retailers, depots, staff), ``history`` (the hidden process, events, orders, ground truth);
``scenario`` derives changed inputs (churn) from a generated district.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point

from gridmgmt import io
from gridmgmt.config import Files
from gridmgmt.demo.geography import (
    CENTRE_LONLAT,
    EAST_SUBDISTRICTS,
    OLD_TOWN_SUBDISTRICTS,
    PARK_LONLAT,
    REPO_BOUNDARY,
    SUBDISTRICTS,
    TO_UTM,
    UTM_CRS,
    WGS84,
    make_subdistricts,
    make_zones,
    to_wgs,
)
from gridmgmt.demo.history import DYNAMIC_HOT_AREAS, HotArea, simulate_history
from gridmgmt.demo.population import (
    BUSINESS_SHARES,
    CLASS_SHARES,
    make_staff,
    place_depots,
    place_retailers,
    place_schools,
)
from gridmgmt.demo.roads import build_roads, osm_xml
from gridmgmt.demo.scenario import make_churn_scenario

__all__ = [
    "BUSINESS_SHARES",
    "CENTRE_LONLAT",
    "CLASS_SHARES",
    "DYNAMIC_HOT_AREAS",
    "EAST_SUBDISTRICTS",
    "FILE_KEYS",
    "OLD_TOWN_SUBDISTRICTS",
    "PARK_LONLAT",
    "SUBDISTRICTS",
    "UTM_CRS",
    "WGS84",
    "HotArea",
    "generate_demo",
    "make_churn_scenario",
]

log = logging.getLogger(__name__)

FILE_KEYS = tuple(f.name for f in dataclasses.fields(Files))  # every [files] entry of district.toml


def generate_demo(
    out_dir: str | Path,
    *,
    seed: int = 7,
    n_retailers: int = 5000,
    history_end: str = "2026-11-30",
    history_days: int = 730,
    boundary: str | Path | None = None,
    centre: tuple[float, float] | None = None,
    scale: float = 1.0,
    old_town_share: float = 0.2,
    name: str | None = None,
) -> dict[str, Path]:
    """Generate the synthetic Yunyan demo district into ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing).
    seed
        Seed of every random choice; the same seed gives byte-identical files.
    n_retailers
        Number of licensed retailers.
    history_end
        Last day of the event and order history (inclusive), ``YYYY-MM-DD``.
    history_days
        Length of the history in days (730 = two years).
    boundary
        District boundary (WGS-84 GeoJSON); default ``out_dir/boundary.geojson`` if present,
        else the committed ``data/demo/boundary.geojson``. Copied into ``out_dir`` when missing there.
    centre
        The old town centre as (lon, lat), WGS-84 degrees; default 喷水池 (Yunyan). The park,
        subdistricts, depots and main roads are placed relative to it.
    scale
        Multiplies the park's size and the offsets of subdistrict seeds and depot stations from
        ``centre`` (1 = Yunyan's layout; smaller for a smaller boundary).
    old_town_share
        The old town's share of the district's area (dense lanes; two thirds of the retailers).
    name
        The district's name in district.toml (default: the Yunyan demo's).

    Returns
    -------
    dict of str to Path
        Every file written, keyed as in district.toml's ``[files]`` plus ``district``.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    paths: dict[str, Path] = {}
    src = Path(boundary) if boundary else (out / "boundary.geojson")
    if not src.exists():
        src = REPO_BOUNDARY
    bnd = io.read_layer(src)
    if bnd.crs is None:
        bnd = bnd.set_crs(WGS84)
    paths["boundary"] = out / "boundary.geojson"
    if src.resolve() != paths["boundary"].resolve():
        io.write_vector(bnd.to_crs(WGS84), paths["boundary"])
    area = shapely.make_valid(bnd.to_crs(UTM_CRS).union_all())
    centre_pt = Point(TO_UTM.transform(*(centre or CENTRE_LONLAT)))
    park_centre = None
    if centre is not None:  # keep 黔灵山's place relative to the old town, scaled
        yunyan, park_at = Point(TO_UTM.transform(*CENTRE_LONLAT)), Point(TO_UTM.transform(*PARK_LONLAT))
        park_centre = Point(centre_pt.x + (park_at.x - yunyan.x) * scale, centre_pt.y + (park_at.y - yunyan.y) * scale)
    park, old = make_zones(area, centre_pt, park_centre=park_centre, old_town_share=old_town_share, scale=scale)
    log.info(
        "demo: boundary %.1f km2, old town %.1f km2, park %.1f km2", area.area / 1e6, old.area / 1e6, park.area / 1e6
    )

    subs = make_subdistricts(area, centre_pt, old, scale=scale)
    paths["subdistricts"] = io.write_vector(to_wgs(subs), out / "subdistricts.geojson")

    roads = build_roads(rng, area, old, park, centre_pt)
    n_oneway = int((roads.ways["oneway"] == "yes").sum())
    log.info("demo: road network %d nodes, %d ways (%d one-way)", len(roads.nodes), len(roads.ways), n_oneway)
    paths["network"] = io.write_bytes(osm_xml(roads), out / "roads.osm.gz")

    schools = place_schools(rng, roads, old, area, park)
    retailers = place_retailers(rng, roads, n_retailers, old, area, park, schools, subs, history_end)
    log.info("demo: %d retailers, %d schools", len(retailers), len(schools))

    # The history has its own random stream, so the hidden process can change without changing any
    # other file. The first published (stationary) process still runs on the main stream only to
    # advance it as it always did: the staff roster drawn next stays byte-identical.
    simulate_history(rng, retailers, schools, centre_pt, history_end, history_days, dynamic=False)
    history_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    events, orders, truth = simulate_history(history_rng, retailers, schools, centre_pt, history_end, history_days)
    log.info(
        "demo: %d events, %d order rows, %d violations",
        len(events),
        len(orders),
        int((events["type"] == "violation").sum()),
    )

    depots = place_depots(roads, centre_pt, scale=scale)
    staff = make_staff(rng)

    retailers_out = retailers.drop(columns=["x", "y", "zone"])
    paths["retailers"] = io.write_csv(retailers_out, out / "retailers.csv")
    sch = schools.drop(columns=["x", "y"])
    paths["schools"] = io.write_vector(to_wgs(sch), out / "schools.geojson")
    paths["depots"] = io.write_csv(depots, out / "depots.csv")
    paths["staff"] = io.write_csv(staff, out / "staff.csv")
    raw = events.to_csv(index=False).encode("utf-8")
    paths["events"] = io.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0), out / "events.csv.gz")
    paths["orders"] = io.write_layers({"": orders}, out / "orders.parquet")
    paths["ground_truth"] = io.write_csv(truth, out / "ground_truth.csv")
    paths["district"] = io.write_text(_district_toml(history_end, paths, name=name), out / "district.toml")
    log.info("demo: wrote %d files to %s", len(paths), out)
    return paths


def _district_toml(history_end: str, paths: dict[str, Path], *, name: str | None = None) -> str:
    files = "\n".join(f'{k} = "{paths[k].name}"' for k in FILE_KEYS)
    name = (name or "云岩区 Yunyan District (synthetic demo)").replace('"', "'")
    return f"""# Synthetic demo district generated by `gridmgmt demo-data` (see README.md).
# Only what differs from gridmgmt.config defaults is stated, plus the files.
name = "{name}"
history_end = "{history_end}"

[files]
{files}

[coords]
retailers = "wgs84"
depots = "wgs84"
schools = "wgs84"

[grids]
count = 12
"""
