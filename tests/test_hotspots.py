"""Hotspots: planted clusters are found, random points are not, scales follow the data, bad input is explained."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmgmt._errors import InputError
from gridmgmt.risk.gistar import HOTSPOT_CLASSES, gi_star
from gridmgmt.risk.hexgrid import hex_axial, hex_grid
from gridmgmt.risk.hotspots import find_hotspots, points_from_table
from gridmgmt.risk.moran import moran_z
from gridmgmt.risk.neighbours import BandNeighbours

UTM = "EPSG:32648"  # Guiyang lies in UTM zone 48N
X0, Y0 = 660_000.0, 2_940_000.0  # south-west corner of a 10 km x 10 km synthetic square
CENTRE = np.array([X0 + 3_000.0, Y0 + 7_000.0])  # where the cluster is planted
HOT = ("hot_99", "hot_95")


def _points(xy: np.ndarray, **columns) -> gpd.GeoDataFrame:
    """Metric coordinates (UTM 48N) as WGS-84 points, like a layer read from disk."""
    geometry = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM).to_crs("EPSG:4326")
    return gpd.GeoDataFrame(columns, geometry=geometry.to_numpy(), crs="EPSG:4326")


def _synthetic(n: int, cluster_share: float, sigma_m: float, seed: int) -> np.ndarray:
    """Uniform points over the square plus a Gaussian cluster of ``cluster_share`` at CENTRE (metric xy)."""
    rng = np.random.default_rng(seed)
    n_cluster = int(n * cluster_share)
    background = rng.uniform(0, 10_000, (n - n_cluster, 2)) + np.array([X0, Y0])
    cluster = rng.normal(CENTRE, sigma_m, (n_cluster, 2))
    return np.vstack([background, cluster])


def _cell_distances_m(cells: gpd.GeoDataFrame) -> np.ndarray:
    """Distance of each cell centre from the planted centre, metres."""
    centres = cells.to_crs(UTM).geometry.centroid
    return np.hypot(centres.x.to_numpy() - CENTRE[0], centres.y.to_numpy() - CENTRE[1])


@pytest.fixture(scope="module")
def planted():
    """4,000 points: 15% in a cluster of sigma 400 m, the rest uniform over 100 km2."""
    return find_hotspots(_points(_synthetic(4_000, 0.15, 400.0, seed=1)), seed=7)


def test_planted_cluster_is_hot_and_far_areas_are_not(planted) -> None:
    """The cells at the planted centre are hot at 95%+ after FDR; no cell 3 km or more away is hot."""
    cells = planted.cells
    dist = _cell_distances_m(cells)
    near = cells[dist < 400]
    assert len(near) >= 1
    assert near["hotspot_class"].isin(HOT).all(), near[["count", "gi_z", "p_fdr", "hotspot_class"]]
    far = cells[dist > 3_000]
    assert len(far) > 100
    assert not far["hotspot_class"].str.startswith("hot").any()
    assert planted.n_points == 4_000


def test_result_columns_and_crs(planted) -> None:
    """Cells come back in WGS-84 with the documented columns, classes and p-values in range."""
    cells = planted.cells
    assert cells.crs.to_epsg() == 4326
    for column in ("cell_id", "count", "area_share", "gi_z", "p_value", "p_fdr", "hotspot_class", "kde_per_km2"):
        assert column in cells.columns, column
    assert "weight_sum" not in cells.columns
    assert set(cells["hotspot_class"]) <= set(HOTSPOT_CLASSES)
    assert cells["p_value"].between(0, 1).all() and (cells["p_fdr"] >= cells["p_value"] - 1e-12).all()
    assert cells["count"].sum() == planted.n_points
    assert sum(planted.summary().values()) == len(cells)
    assert cells["cell_id"].is_unique
    sliver = cells["area_share"] < 0.5
    assert sliver.any() and (cells.loc[sliver, "count"] > 0).all()  # kept only for their points


def test_uniform_points_give_no_hotspots() -> None:
    """Complete spatial randomness gives (almost) no significant cells after FDR, for several seeds."""
    for seed in (11, 12, 13):
        result = find_hotspots(_points(_synthetic(3_000, 0.0, 1.0, seed=seed)), seed=seed)
        significant = (result.cells["hotspot_class"] != "not_significant").sum()
        assert significant <= 0.01 * len(result.cells), result.summary()


def test_random_seed_makes_permutation_results_reproducible() -> None:
    """With permutation inference the same seed gives identical cells, and another seed other p-values."""
    points = _points(_synthetic(600, 0.2, 500.0, seed=3))
    a = find_hotspots(points, seed=5, inference="permutation", permutations=499)
    b = find_hotspots(points, seed=5, inference="permutation", permutations=499)
    c = find_hotspots(points, seed=6, inference="permutation", permutations=499)
    assert a.scale_info["inference"] == "permutation" and a.scale_info["permutations"] == 499
    pd.testing.assert_frame_equal(pd.DataFrame(a.cells), pd.DataFrame(b.cells))
    assert a.kde_peak == b.kde_peak and a.scale_info == b.scale_info
    assert not np.array_equal(a.cells["p_value"].to_numpy(), c.cells["p_value"].to_numpy())


def test_permutation_state_does_not_leak_into_numpy_global_random() -> None:
    """esda reseeds numpy's global generator; find_hotspots restores it, so callers' draws are unaffected."""
    points = _points(_synthetic(600, 0.2, 500.0, seed=3))
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    find_hotspots(points, seed=5, inference="permutation", permutations=99)
    assert np.array_equal(np.random.random(3), expected)


def test_auto_inference_uses_permutations_only_when_fdr_at_1_percent_is_reachable() -> None:
    """Few cells: enough permutations for a 7-cell cluster to pass BH at 1%; many cells: analytic p."""
    rng = np.random.default_rng(0)
    values = rng.poisson(5, 100).astype(float)
    coords = np.column_stack([np.arange(100) % 10, np.arange(100) // 10]) * 100.0
    _, info = gi_star(values, coords, 150.0, seed=0)
    assert info["inference"] == "permutation"
    assert 2 / (info["permutations"] + 1) <= 0.01 * 7 / 100
    many = rng.poisson(5, 2_000).astype(float)
    coords = np.column_stack([np.arange(2_000) % 50, np.arange(2_000) // 50]) * 100.0
    _, info = gi_star(many, coords, 150.0, seed=0)
    assert info["inference"] == "analytic" and info["permutations"] == 0


def test_empty_neighbourhoods_are_not_cold_spots() -> None:
    """Ties in permutation p-values count against significance: a sea of zeros is not a cold spot."""
    values = np.zeros(144)
    values[[5, 40, 77, 100, 130]] = [3, 1, 2, 4, 1]
    coords = np.column_stack([np.arange(144) % 12, np.arange(144) // 12]) * 100.0
    frame, info = gi_star(values, coords, 150.0, inference="permutation", permutations=999, seed=1)
    assert info["inference"] == "permutation"
    assert not frame["hotspot_class"].str.startswith("cold").any()
    assert (frame["p_value"] > 0.5).sum() > 100


def test_weights_move_the_hotspot() -> None:
    """Uniform points are not hot; giving points in one disc weight 20 makes that disc hot and only there."""
    xy = _synthetic(3_000, 0.0, 1.0, seed=21)
    in_disc = np.hypot(*(xy - CENTRE).T) < 600
    points = _points(xy, severity=np.where(in_disc, 20.0, 1.0))
    plain = find_hotspots(points, seed=1)
    weighted = find_hotspots(points, weight="severity", seed=1)
    assert "weight_sum" in weighted.cells.columns
    assert weighted.cells["weight_sum"].sum() == pytest.approx(points["severity"].sum())
    dist = _cell_distances_m(weighted.cells)
    assert weighted.cells.loc[dist < 300, "hotspot_class"].isin(HOT).all()
    assert not weighted.cells.loc[dist > 3_000, "hotspot_class"].str.startswith("hot").any()
    assert not plain.cells.loc[_cell_distances_m(plain.cells) < 300, "hotspot_class"].isin(HOT).any()


def test_scale_rule_follows_the_cluster_size() -> None:
    """The Gi* band chosen by Moran's I grows with the planted cluster and lies within 1-4 sigma of it."""
    bands = {}
    for sigma in (250.0, 800.0):
        result = find_hotspots(_points(_synthetic(4_000, 0.15, sigma, seed=2)), seed=1)
        info = result.scale_info
        bands[sigma] = info["band_m"]
        assert info["band_rule"] in ("first_peak", "max")
        assert len(info["band_curve"]) >= 3
        assert info["band_m"] in [c["band_m"] for c in info["band_curve"]]
    assert bands[800.0] > 1.5 * bands[250.0]
    assert 800.0 <= bands[800.0] <= 4 * 800.0
    assert bands[250.0] <= 4 * 250.0


def test_hex_size_rule_targets_points_per_cell(planted) -> None:
    """The hexagon size gives about n / points_per_cell cells, and a given size is used as is."""
    info = planted.scale_info
    assert info["size_rule"] == "density"
    assert info["n_cells"] == pytest.approx(4_000 / 8, rel=0.15)
    assert info["hex_area_m2"] == pytest.approx(1.5 * math.sqrt(3) * info["hex_size_m"] ** 2)
    fixed = find_hotspots(_points(_synthetic(1_000, 0.1, 300.0, seed=4)), hex_size_m=700.0, band_m=2_000.0)
    assert fixed.scale_info["hex_size_m"] == 700.0 and fixed.scale_info["size_rule"] == "given"
    assert fixed.scale_info["band_m"] == 2_000.0 and fixed.scale_info["band_rule"] == "given"
    json.dumps(fixed.scale_info, allow_nan=False)  # scale_info can be written as strict JSON


def test_uniform_points_fall_back_to_the_default_band() -> None:
    """Without significant clustering at any band, the default band of two cell spacings is used."""
    result = find_hotspots(_points(_synthetic(3_000, 0.0, 1.0, seed=12)), seed=1)
    info = result.scale_info
    assert info["band_rule"] == "default"
    assert info["band_m"] == pytest.approx(2 * info["cell_spacing_m"], rel=1e-4)


def test_kde_peak_lies_in_the_planted_cluster(planted) -> None:
    """The kernel density maximum is within one cluster sigma (400 m) of the planted centre."""
    peak = planted.kde_peak
    x, y = gpd.GeoSeries(gpd.points_from_xy([peak["lon"]], [peak["lat"]]), crs="EPSG:4326").to_crs(UTM).iloc[0].xy
    assert math.hypot(x[0] - CENTRE[0], y[0] - CENTRE[1]) < 400
    assert peak["value_per_km2"] > 3 * 4_000 / 100  # well above the mean density of 40 per km2
    assert 100 < peak["bandwidth_m"] < 3_000
    assert planted.cells["kde_per_km2"].max() <= peak["value_per_km2"] + 1e-9


def test_points_fall_in_the_hexagon_that_contains_them() -> None:
    """Axial rounding puts every point in the hexagon whose polygon contains it."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 2_000, (500, 2))
    region = shapely.box(0, 0, 2_000, 2_000)
    grid = hex_grid(region, 150.0, min_share=0.0)
    q, r = hex_axial(xy[:, 0], xy[:, 1], 150.0)
    index = pd.MultiIndex.from_arrays([grid["q"], grid["r"]]).get_indexer(pd.MultiIndex.from_arrays([q, r]))
    assert (index >= 0).all()
    polygons = grid.geometry.to_numpy()[index]
    assert shapely.covers(polygons, shapely.points(xy)).all()
    assert grid.geometry.area.to_numpy() == pytest.approx(1.5 * math.sqrt(3) * 150.0**2)


def test_boundary_keeps_whole_cells_and_clip_trims_them() -> None:
    """With a boundary whole cells cover it (but empty edge slivers); clip=True trims them; outside points count."""
    xy = _synthetic(2_000, 0.15, 400.0, seed=8)
    outside = np.array([[X0 + 30_000.0, Y0 + 30_000.0]] * 5)
    points = _points(np.vstack([xy, outside]))
    box = gpd.GeoSeries([shapely.box(X0, Y0, X0 + 10_000, Y0 + 10_000)], crs=UTM).to_crs("EPSG:4326")
    whole = find_hotspots(points, boundary=box, seed=1)
    clipped = find_hotspots(points, boundary=box, clip=True, seed=1)
    assert whole.scale_info["region"] == "boundary"
    assert whole.scale_info["n_points_outside"] >= 5
    assert whole.n_points == len(points) - whole.scale_info["n_points_outside"]
    region = box.to_crs(UTM).iloc[0]
    whole_m = whole.cells.to_crs(UTM).geometry
    clipped_m = clipped.cells.to_crs(UTM).geometry
    assert whole_m.area.min() == pytest.approx(whole.scale_info["hex_area_m2"], rel=1e-3)
    assert not whole_m.within(region.buffer(1)).all()
    assert clipped_m.within(region.buffer(1)).all()
    inner = region.buffer(-whole.scale_info["hex_size_m"])  # empty edge slivers (< half inside) are left out
    assert inner.difference(whole_m.union_all()).area < 1.0  # m2
    pd.testing.assert_series_equal(whole.cells["p_value"], clipped.cells["p_value"])


def test_fast_moran_matches_esda() -> None:
    """The sparse Moran's I and randomisation z of the band curve equal esda.Moran's."""
    import esda

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1_000, (200, 2))
    y = rng.poisson(3, 200) + 2.0 * (xy[:, 0] > 500)
    neighbours = BandNeighbours(xy, 200.0)
    for band in (60.0, 120.0, 200.0):
        reference = esda.Moran(y, neighbours.weights(band), permutations=0)
        moran_i, z = moran_z(y, neighbours.matrix(band))
        assert moran_i == pytest.approx(reference.I, rel=1e-9)
        assert z == pytest.approx(reference.z_rand, rel=1e-9)


def test_table_input_is_validated_with_rows() -> None:
    """A lon/lat table works as input; a bad coordinate or weight is reported with its row and field."""
    xy = _points(_synthetic(300, 0.2, 400.0, seed=9))
    table = pd.DataFrame({"lon": xy.geometry.x.map(str), "lat": xy.geometry.y.map(str), "w": "1"})
    result = find_hotspots(table, weight="w", source="violations.csv")
    assert result.n_points == 300
    bad = table.copy()
    bad.loc[4, "lon"] = "east"
    with pytest.raises(InputError) as err:
        points_from_table(bad, file="violations.csv")
    assert "violations.csv" in str(err.value) and "row 6" in str(err.value) and "lon" in str(err.value)
    bad = table.copy()
    bad.loc[0, "w"] = "-2"
    with pytest.raises(InputError, match="w"):
        find_hotspots(bad, weight="w", source="violations.csv")


def test_bad_input_raises_clear_input_errors() -> None:
    """No points, a missing weight column, negative or all-zero weights and too few points are InputErrors."""
    empty = gpd.GeoDataFrame({"w": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    with pytest.raises(InputError, match="no points"):
        find_hotspots(empty, source="complaints.geojson")
    points = _points(_synthetic(200, 0.0, 1.0, seed=1), w=np.ones(200))
    with pytest.raises(InputError, match="missing weight column 'severity'") as err:
        find_hotspots(points, weight="severity", source="complaints.geojson")
    assert "complaints.geojson" in str(err.value) and "w" in str(err.value.problems[0].hint)
    negative = points.assign(w=np.r_[-1.0, np.ones(199)])
    with pytest.raises(InputError, match="out of range"):
        find_hotspots(negative, weight="w")
    with pytest.raises(InputError, match="sum to zero"):
        find_hotspots(points.assign(w=0.0), weight="w")
    with pytest.raises(InputError, match="only 3 points"):
        find_hotspots(points.iloc[:3])
    same_place = _points(np.tile([[X0, Y0]], (50, 1)))
    with pytest.raises(InputError, match="no area"):
        find_hotspots(same_place)


def _monthly_layer(seed: int = 3) -> tuple[gpd.GeoDataFrame, dict[str, np.ndarray]]:
    """12 months of 200 uniform points plus four planted sites: growing, steady, new in the last month, shrinking."""
    rng = np.random.default_rng(seed)
    sites = {
        "intensifying": np.array([X0 + 2_000, Y0 + 2_000]),
        "persistent": np.array([X0 + 8_000, Y0 + 8_000]),
        "new": np.array([X0 + 2_000, Y0 + 8_000]),
        "diminishing": np.array([X0 + 8_000, Y0 + 2_000]),
    }
    frames = []
    for k in range(12):
        sizes = {"intensifying": 40 + 8 * k, "persistent": 60, "new": 100 if k == 11 else 0, "diminishing": 128 - 8 * k}
        xy = np.vstack(
            [rng.uniform(0, 10_000, (200, 2)) + np.array([X0, Y0])]
            + [rng.normal(sites[name], 300.0, (size, 2)) for name, size in sizes.items()]
        )
        frames.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "time": f"2025-{k + 1:02d}-15T10:00"}))
    table = pd.concat(frames, ignore_index=True)
    return _points(table[["x", "y"]].to_numpy(), time=table["time"].to_numpy()), sites


def test_emerging_hotspots_classify_planted_trends() -> None:
    """Monthly Gi* and Mann-Kendall trends label growing, steady, new and shrinking sites correctly."""
    from gridmgmt.risk.emerging import EMERGING_CLASSES, emerging_hotspots

    points, sites = _monthly_layer()
    result = emerging_hotspots(points, seed=0)
    cells_m = result.cells.to_crs(UTM).geometry.centroid
    for name, centre in sites.items():
        dist = np.hypot(cells_m.x.to_numpy() - centre[0], cells_m.y.to_numpy() - centre[1])
        nearest = result.cells.iloc[int(np.argmin(dist))]
        assert nearest["emerging_class"] == name, (name, nearest[["windows_hot", "trend_tau", "trend_p"]].to_dict())
    far = np.min([np.hypot(cells_m.x - c[0], cells_m.y - c[1]) for c in sites.values()], axis=0) > 2_500
    assert (result.cells.loc[far, "emerging_class"] == "no_pattern").mean() > 0.95
    assert set(result.cells["emerging_class"]) <= set(EMERGING_CLASSES)
    assert len(result.windows) == 12 * len(result.cells)
    assert result.windows.groupby("window")["count"].sum().sum() == len(points)


def test_emerging_hotspots_need_times_over_enough_windows() -> None:
    """A missing or bad time column, or too few windows for a trend, is an InputError naming the field."""
    from gridmgmt.risk.emerging import emerging_hotspots

    points, _ = _monthly_layer()
    with pytest.raises(InputError, match="missing time column 'when'"):
        emerging_hotspots(points, time="when", source="violations.csv")
    bad = points.assign(time=points["time"].where(points.index != 7, "soon"))
    with pytest.raises(InputError, match="not a date and time"):
        emerging_hotspots(bad, source="violations.csv")
    short = points[points["time"].str.startswith(("2025-01", "2025-02"))]
    with pytest.raises(InputError, match="at least 4 windows"):
        emerging_hotspots(short, source="violations.csv")
