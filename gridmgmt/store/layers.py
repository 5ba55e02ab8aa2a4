"""The layer store: one GeoPackage holding a district's results as named layers (the pre-database store).

Each write replaces whole layers atomically (the file is copied, changed and renamed
over the old one), so a failed run leaves every earlier layer intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmgmt import io


class Store:
    """A GeoPackage of named layers; see :func:`gridmgmt.io.write_layers`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def layers(self) -> list[str]:
        """Names of the layers stored so far (empty when the store does not exist yet)."""
        return io.list_layers(self.path) if self.path.exists() else []

    def write(self, layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame]) -> None:
        """Replace (or add) the given layers, keeping every other layer."""
        io.write_layers(layers, self.path, replace=False)

    def read(self, layer: str) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read one layer; KeyError naming the known layers when it is missing."""
        if layer not in self.layers():
            raise KeyError(f"{self.path}: no layer {layer!r}; layers: {', '.join(self.layers()) or 'none'}")
        return io.read_layer(self.path, layer)

    def __contains__(self, layer: str) -> bool:
        return layer in self.layers()
