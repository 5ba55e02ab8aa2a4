"""Binary distance-band neighbours of point locations, as sparse matrices or libpysal weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from libpysal.weights import W
    from scipy.sparse import csr_matrix


class BandNeighbours:
    """Pairs of locations within the largest band of interest, to build binary band weights quickly.

    libpysal's ``DistanceBand`` builds a dictionary-of-keys matrix per band, which takes
    seconds for thousands of cells; the pairs are found once here (scipy ``cKDTree``) and
    each band becomes a libpysal ``W`` through its sparse constructor.

    Parameters
    ----------
    coords
        ``(n, 2)`` metric coordinates (m).
    max_band_m
        The largest band (m) that :meth:`matrix` and :meth:`weights` will be asked for.
    """

    def __init__(self, coords: np.ndarray, max_band_m: float) -> None:
        from scipy.spatial import cKDTree

        self.n = len(coords)
        tree = cKDTree(coords)
        pairs = tree.sparse_distance_matrix(tree, max_band_m, output_type="coo_matrix")
        off_diagonal = pairs.row != pairs.col
        self.i, self.j, self.d = pairs.row[off_diagonal], pairs.col[off_diagonal], pairs.data[off_diagonal]
        self.max_band_m = max_band_m

    def matrix(self, band_m: float) -> csr_matrix:
        """Binary ``scipy.sparse`` CSR matrix of all pairs within ``band_m`` metres (zero diagonal)."""
        from scipy import sparse

        if band_m > self.max_band_m:
            raise ValueError(f"band {band_m} m exceeds the precomputed {self.max_band_m} m")
        near = self.d <= band_m
        return sparse.csr_matrix((np.ones(int(near.sum())), (self.i[near], self.j[near])), shape=(self.n, self.n))

    def weights(self, band_m: float) -> W:
        """Binary weights (libpysal ``W``) of all pairs within ``band_m`` metres."""
        from libpysal.weights import WSP

        matrix = self.matrix(band_m)
        # silence_warnings: islands (cells without a neighbour) are legitimate on a ragged
        # boundary; Gi* then compares the cell with itself only, which esda handles.
        return WSP(matrix).to_W(silence_warnings=True)
