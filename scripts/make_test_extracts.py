"""Regenerate the clipped OSM test extracts in ``tests/data/osm/`` from the full extracts.

The cut is the "simple" strategy of ``osmium extract``: nodes inside the box, every way with
at least one node inside (with all its node references, so ways crossing the box edge point
at nodes the file does not hold) and every relation with a member kept. That is what a
clipped Geofabrik/BBBike extract looks like at its edge, which is what the tests need.

Usage::

    .venv/bin/python scripts/make_test_extracts.py --src FOLDER_WITH_THE_FULL_EXTRACTS [--out tests/data/osm]

The same files can be made with Debian's ``osmium-tool``::

    osmium extract --strategy simple -b 7.4200,43.7300,7.4320,43.7420 monaco.osm.pbf -o monaco_centre_clipped.osm.pbf
    osmium extract --strategy simple -b 116.3150,39.9970,116.3250,40.0060 beijing_haidian_wudaokou.osm \
        -o wudaokou_clipped.osm
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import osmium

#: (source file, output file, (west, south, east, north) in degrees WGS-84)
CUTS = (
    ("monaco.osm.pbf", "monaco_centre_clipped.osm.pbf", (7.4200, 43.7300, 7.4320, 43.7420)),
    ("beijing_haidian_wudaokou.osm", "wudaokou_clipped.osm", (116.3150, 39.9970, 116.3250, 40.0060)),
    ("monaco.osm.pbf", "monaco_district_clipped.osm.pbf", (7.4050, 43.7230, 7.4400, 43.7520)),
)
#: Full extracts copied unchanged (the real-streets tests run on whole city centres).
COPIES = (
    ("monaco.osm.pbf", "monaco.osm.pbf"),
    ("beijing_haidian_wudaokou.osm", "wudaokou.osm"),
)
#: Real shops of an extract as a bare retailer list (the "own district" tests' retailers):
#: (extract in --out, list, amenities kept: ``SHOP_AMENITIES`` or ``None`` for every ``amenity=*``).
SHOP_AMENITIES = frozenset({"cafe", "bar", "pub", "fast_food", "restaurant", "pharmacy", "fuel"})
SHOP_LISTS = (
    ("monaco_district_clipped.osm.pbf", "monaco_district_shops.csv", SHOP_AMENITIES),
    # shops and every amenity node: ~500 points, the size of the city centre in issue 20
    ("monaco.osm.pbf", "monaco_shops.csv", None),
    ("wudaokou.osm", "wudaokou_shops.csv", None),
)


def clip_simple(source: Path, target: Path, bbox: tuple[float, float, float, float]) -> dict[str, int]:
    """Cut ``source`` to ``bbox`` with the simple strategy; return object counts written.

    Three streamed passes: nodes inside the box; ways with a node inside (node references
    unchanged); then everything kept, plus relations with a kept member, written in order.
    """
    west, south, east, north = bbox
    nodes: set[int] = set()
    for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
        loc = node.location
        if loc.valid() and west <= loc.lon <= east and south <= loc.lat <= north:
            nodes.add(node.id)
    ways = {
        way.id for way in osmium.FileProcessor(str(source), osmium.osm.WAY) if any(nd.ref in nodes for nd in way.nodes)
    }
    counts = {"nodes": 0, "ways": 0, "relations": 0}
    target.unlink(missing_ok=True)
    kinds = {"n": nodes, "w": ways}
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            if obj.is_node() and obj.id in nodes:
                writer.add_node(obj)
                counts["nodes"] += 1
            elif obj.is_way() and obj.id in ways:
                writer.add_way(obj)
                counts["ways"] += 1
            elif obj.is_relation() and any(m.ref in kinds.get(m.type, ()) for m in obj.members):
                writer.add_relation(obj)
                counts["relations"] += 1
    return counts


def shop_list(source: Path, target: Path, amenities: frozenset[str] | None = SHOP_AMENITIES) -> int:
    """Write the ``shop=*`` nodes and the ``amenities`` nodes (all ``amenity=*`` for ``None``) of
    ``source`` as a retailer list (retailer_id, name, lon, lat); returns the number of rows."""
    rows = []
    for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
        amenity = node.tags.get("amenity")
        if "shop" in node.tags or (amenity is not None and (amenities is None or amenity in amenities)):
            name = node.tags.get("name", node.tags.get("shop", node.tags.get("amenity", "")))
            rows.append(f"OSM{node.id},{name.replace(',', ' ')},{node.location.lon:.7f},{node.location.lat:.7f}")
    target.write_text("retailer_id,name,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def main() -> None:
    """Write every cut in ``CUTS``, the copies in ``COPIES`` and the shop lists."""
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="folder holding the full extracts")
    parser.add_argument("--out", type=Path, default=root / "tests" / "data" / "osm")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for source, target, bbox in CUTS:
        counts = clip_simple(args.src / source, args.out / target, bbox)
        size = (args.out / target).stat().st_size
        print(f"{target}: {counts} ({size:,} bytes)")
    for source, target in COPIES:
        shutil.copyfile(args.src / source, args.out / target)
        print(f"{target}: copied ({(args.out / target).stat().st_size:,} bytes)")
    for source, target, amenities in SHOP_LISTS:
        print(f"{target}: {shop_list(args.out / source, args.out / target, amenities)} retailers")


if __name__ == "__main__":
    main()
