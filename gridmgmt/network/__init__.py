"""Road network (osmnx/PBF), snapping, travel-time matrices.

The road network is an osmnx ``MultiDiGraph`` in WGS-84 with ``length`` in metres. Every
source (OSM XML, ``.osm.pbf``, GraphML, an online place query) ends in the same canonical
builder, which adds one travel-time attribute per travel mode (``time_s_walk``,
``time_s_ebike``, ``time_s_car``; seconds, ``inf`` where the mode may not use the street).

One-way streets bind cars and e-bikes; people on foot may walk them both ways. Points
(retailers, depots) are snapped onto the nearest street edge, not the nearest node, and
matrices route from the snapped position along its edge, so two shops on the same long
block are a few seconds apart, not a detour through the block's corners.

Matrices run scipy's Dijkstra on a CSR array form of the graph (built once per graph, mode
and weight, then cached), only from the street nodes next to the points, in chunks.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES, Speeds

log = logging.getLogger(__name__)

OSM_XML_SUFFIXES = (".osm", ".xml", ".osm.gz", ".osm.bz2", ".xml.gz", ".xml.bz2")
PBF_SUFFIXES = (".osm.pbf", ".pbf")
GRAPHML_SUFFIXES = (".graphml",)
NETWORK_SUFFIXES = OSM_XML_SUFFIXES + PBF_SUFFIXES + GRAPHML_SUFFIXES

_DRIVE = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
#: Highway types each travel mode may use. E-bikes are non-motor vehicles in China: not on
#: motorways, but on cycleways and tracks; people on foot use everything but motorways and
#: cycleways (as osmnx's "walk" network does).
MODE_HIGHWAYS: dict[str, frozenset[str]] = {
    "car": _DRIVE,
    "ebike": (_DRIVE - {"motorway", "motorway_link"}) | {"cycleway", "track", "path"},
    "walk": (_DRIVE - {"motorway", "motorway_link"}) | {"pedestrian", "footway", "path", "steps", "track"},
}
ROUTABLE_HIGHWAYS = frozenset().union(*MODE_HIGHWAYS.values())

#: Car speed (km/h) of a street without a ``maxspeed`` tag: Chinese urban defaults.
DEFAULT_CAR_KMH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 40.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 50.0,
    "primary_link": 30.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 20.0,
    "track": 10.0,
    "cycleway": 10.0,
    "path": 5.0,
    "pedestrian": 5.0,
    "footway": 5.0,
    "steps": 2.0,
}
_FALLBACK_CAR_KMH = 20.0
_AT_NODE_M = 0.01  # a snapped point closer than this to an edge end is at that node


def time_attr(mode: str) -> str:
    """Name of the edge attribute holding a mode's travel time in seconds, e.g. ``time_s_car``."""
    _check_mode(mode)
    return f"time_s_{mode}"


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_network(source: str | os.PathLike, *, speeds: Speeds = Speeds()) -> nx.MultiDiGraph:  # noqa: B008
    """Load a road network file as an osmnx graph with per-mode travel times.

    Dispatches on the file name: OSM XML (``.osm``, ``.xml``, optionally ``.gz``/``.bz2``)
    and PBF extracts (``.osm.pbf``, ``.pbf``) are both filtered with osmium to the streets
    vehicles or pedestrians can use (highway ways and their nodes; buildings, rivers and
    areas dropped) and then built with ``osmnx.graph_from_xml``, so a real extract and the
    demo file go through the same path; GraphML (``.graphml``) is read with
    ``osmnx.load_graphml``.

    Parameters
    ----------
    source
        Path of the network file.
    speeds
        Travel speeds (km/h); ``speeds.car_kmh`` caps every street's own speed.

    Returns
    -------
    networkx.MultiDiGraph
        WGS-84 graph (``x`` = lon, ``y`` = lat), one-way streets one-way, edge ``length``
        in metres and ``time_s_walk``, ``time_s_ebike``, ``time_s_car`` in seconds.

    Raises
    ------
    InputError
        If the file is missing, of an unknown type, unreadable or has no streets.
    """
    path = Path(source)
    file = str(path)
    if not path.exists():
        raise InputError(
            Problem(
                file=file,
                message="road network file not found",
                hint="set files.network in district.toml to an OSM extract (.osm, .osm.gz, .osm.pbf) or .graphml",
            )
        )
    suffix = _suffix(path)
    if suffix not in NETWORK_SUFFIXES:
        raise InputError(
            Problem(
                file=file,
                message=f"unsupported road network format {suffix or path.suffix!r}",
                hint=f"use one of {', '.join(NETWORK_SUFFIXES)} (e.g. a Geofabrik .osm.pbf extract)",
            )
        )
    if path.stat().st_size == 0:
        raise InputError(
            Problem(file=file, message="the road network file is empty", hint="download the extract again")
        )
    import osmnx as ox

    try:
        if suffix in GRAPHML_SUFFIXES:
            graph = ox.load_graphml(path)
            if not _is_wgs84(graph):
                graph = ox.project_graph(graph, to_latlong=True)
        else:
            graph = _graph_from_osm_file(path)
    except InputError:
        raise
    except Exception as exc:  # osmium/XML/GraphML parser errors: name the file, not a traceback
        raise InputError(
            Problem(
                file=file,
                message=f"cannot read the road network: {type(exc).__name__}: {exc}",
                hint="check that the file is a complete OSM XML/PBF extract or osmnx GraphML",
            )
        ) from None
    if graph.number_of_edges() == 0:
        raise InputError(
            Problem(
                file=file, message="the road network has no streets", hint="use an extract that covers the district"
            )
        )
    graph.graph["source"] = file
    log.info("road network %s: %d nodes, %d edges", file, graph.number_of_nodes(), graph.number_of_edges())
    return add_travel_times(graph, speeds=speeds)


def graph_from_place(name: str, *, speeds: Speeds = Speeds()) -> nx.MultiDiGraph:  # noqa: B008
    """Download the street network of a named place from OpenStreetMap (needs internet).

    Uses ``osmnx.graph_from_place`` with ``network_type="all"`` (streets and footways,
    one-way streets kept one-way), then the same travel times as ``load_network``. Save the
    result with ``osmnx.save_graphml`` to work offline afterwards.

    Parameters
    ----------
    name
        Place name Nominatim knows, e.g. ``"云岩区, 贵阳市, 贵州省, 中国"``.
    speeds
        Travel speeds (km/h).

    Returns
    -------
    networkx.MultiDiGraph
        As ``load_network`` returns.
    """
    import osmnx as ox

    graph = ox.graph_from_place(name, network_type="all", simplify=True, retain_all=False)
    graph.graph["source"] = name
    return add_travel_times(graph, speeds=speeds)


def add_travel_times(graph: nx.MultiDiGraph, *, speeds: Speeds = Speeds()) -> nx.MultiDiGraph:  # noqa: B008
    """Add ``speed_kph`` and per-mode ``time_s_<mode>`` (seconds) to every edge, in place.

    Cars drive at the street's ``maxspeed`` (per-highway defaults in ``DEFAULT_CAR_KMH``
    where untagged), capped at ``speeds.car_kmh``; walking and e-bikes use constant speeds.
    A street a mode may not use (see ``MODE_HIGHWAYS``, ``access=private`` for cars) gets
    ``inf``.

    Parameters
    ----------
    graph
        osmnx graph with ``length`` (m) and ``highway`` on its edges.
    speeds
        Travel speeds (km/h).

    Returns
    -------
    networkx.MultiDiGraph
        The same graph.
    """
    import osmnx as ox

    if graph.number_of_edges() == 0:
        return graph
    ox.routing.add_edge_speeds(graph, hwy_speeds=DEFAULT_CAR_KMH, fallback=_FALLBACK_CAR_KMH)
    mode_kmh = {"walk": speeds.walk_kmh, "ebike": speeds.ebike_kmh}
    for _, _, data in graph.edges(data=True):
        highways = data.get("highway", "road")
        highways = highways if isinstance(highways, list) else [highways]
        length_m = float(data["length"])
        for mode in TRAVEL_MODES:
            allowed = all(h in MODE_HIGHWAYS[mode] for h in highways)
            if mode == "car" and data.get("access") in ("private", "no"):
                allowed = False
            if not allowed:
                data[f"time_s_{mode}"] = math.inf
                continue
            kmh = min(float(data["speed_kph"]), speeds.car_kmh) if mode == "car" else mode_kmh[mode]
            data[f"time_s_{mode}"] = length_m / (kmh / 3.6)
    graph.graph["speeds"] = asdict(speeds)
    _CACHE.pop(graph, None)
    return graph


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(NETWORK_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ""


def _is_wgs84(graph: nx.MultiDiGraph) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(graph.graph.get("crs", "EPSG:4326")).equals(CRS.from_epsg(4326))


def _graph_from_osm_file(path: Path) -> nx.MultiDiGraph:
    """Filter an OSM file (XML or PBF) to routable streets with osmium, then build with osmnx."""
    import osmnx as ox

    with tempfile.TemporaryDirectory(prefix="gridmgmt-osm-") as tmp:
        # a private scratch file osmnx reads back; never a user-visible output
        streets = Path(tmp) / "streets.osm"
        n_ways = _write_streets(path, streets)
        if n_ways == 0:
            raise InputError(
                Problem(
                    file=str(path),
                    message="no streets (highway ways) in the road network file",
                    hint="use an OSM extract with highway=* ways covering the district",
                )
            )
        return ox.graph_from_xml(streets, bidirectional=False, simplify=True, retain_all=False)


def _keep_way(tags: Any) -> bool:
    highway = tags.get("highway")
    if highway not in ROUTABLE_HIGHWAYS:
        return False
    return not (tags.get("area") == "yes" or tags.get("access") == "no")


def _write_streets(source: Path, target: Path) -> int:
    """Copy the routable highway ways of ``source`` and the nodes they use into ``target``.

    Returns the number of ways written.
    """
    import osmium

    way_ids: set[int] = set()
    node_ids: set[int] = set()
    ways = osmium.FileProcessor(str(source), osmium.osm.WAY).with_filter(
        osmium.filter.KeyFilter("highway").enable_for(osmium.osm.WAY)
    )
    for way in ways:
        if _keep_way(way.tags) and len(way.nodes) >= 2:
            way_ids.add(way.id)
            node_ids.update(nd.ref for nd in way.nodes)
    if not way_ids:
        return 0
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() and obj.id in node_ids:
                writer.add_node(obj)
            elif obj.is_way() and obj.id in way_ids:
                writer.add_way(obj)
    return len(way_ids)


def synthetic_grid(
    n_rows: int,
    n_cols: int,
    *,
    spacing_m: float = 120.0,
    origin: tuple[float, float] = (106.70, 26.57),
    oneway_every: int = 4,
    seed: int = 0,
    speeds: Speeds = Speeds(),  # noqa: B008
) -> nx.MultiDiGraph:
    """A street grid shaped like an osmnx graph, for tests and benchmarks (no file needed).

    Every ``oneway_every``-th east-west street is one-way (alternating east/westbound);
    street classes and ``maxspeed`` tags vary; node positions are jittered by up to 15% of
    ``spacing_m`` (seeded) so that travel times have few ties.

    Parameters
    ----------
    n_rows, n_cols
        Grid size in nodes.
    spacing_m
        Block length, m.
    origin
        ``(lon, lat)`` of the south-west corner, degrees.
    oneway_every
        Make every n-th east-west street one-way (0: none).
    seed
        Random seed of the jitter and the tags.
    speeds
        Travel speeds (km/h).

    Returns
    -------
    networkx.MultiDiGraph
        WGS-84 graph with the same attributes ``load_network`` gives.
    """
    rng = np.random.default_rng(seed)
    deg_lat = spacing_m / 111_320.0
    deg_lon = deg_lat / math.cos(math.radians(origin[1]))
    graph = nx.MultiDiGraph(crs="epsg:4326")
    jitter = rng.uniform(-0.15, 0.15, size=(n_rows, n_cols, 2))
    for r in range(n_rows):
        for c in range(n_cols):
            node = r * n_cols + c
            graph.add_node(
                node,
                x=origin[0] + (c + jitter[r, c, 0]) * deg_lon,
                y=origin[1] + (r + jitter[r, c, 1]) * deg_lat,
            )
    way_ids = itertools.count(1)
    classes = (("primary", "50"), ("secondary", "40"), ("tertiary", None), ("residential", "30"), ("residential", None))

    def add_street(a: int, b: int, highway: str, maxspeed: str | None, oneway: bool) -> None:
        na, nb = graph.nodes[a], graph.nodes[b]
        dx = (nb["x"] - na["x"]) * math.cos(math.radians(na["y"])) * 111_320.0
        dy = (nb["y"] - na["y"]) * 111_320.0
        attrs = {"highway": highway, "oneway": oneway, "length": math.hypot(dx, dy), "osmid": next(way_ids)}
        if maxspeed:
            attrs["maxspeed"] = maxspeed
        graph.add_edge(a, b, reversed=False, **attrs)
        if not oneway:
            graph.add_edge(b, a, reversed=True, **attrs)

    for r in range(n_rows):
        highway, maxspeed = classes[int(rng.integers(len(classes)))]
        oneway = bool(oneway_every) and r % oneway_every == 1
        eastbound = (r // max(oneway_every, 1)) % 2 == 0
        for c in range(n_cols - 1):
            a, b = r * n_cols + c, r * n_cols + c + 1
            add_street(a, b, highway, maxspeed, oneway) if eastbound or not oneway else add_street(
                b, a, highway, maxspeed, oneway
            )
    for c in range(n_cols):
        highway, maxspeed = classes[int(rng.integers(len(classes)))]
        for r in range(n_rows - 1):
            add_street(r * n_cols + c, (r + 1) * n_cols + c, highway, maxspeed, False)
    return add_travel_times(graph, speeds=speeds)


# --------------------------------------------------------------------------------------
# Array forms (cached per graph)
# --------------------------------------------------------------------------------------


@dataclass
class _EdgeIndex:
    """Snapping index: canonical street edges (one per two-way street) projected to metres."""

    crs: Any
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray
    length_m: np.ndarray
    oneway: np.ndarray
    geometry: np.ndarray  # projected LineStrings
    allowed: dict[str, np.ndarray]  # mode -> bool mask
    trees: dict[str | None, tuple[shapely.STRtree, np.ndarray]]

    def tree(self, mode: str | None) -> tuple[shapely.STRtree, np.ndarray]:
        if mode not in self.trees:
            rows = np.arange(len(self.u)) if mode is None else np.flatnonzero(self.allowed[mode])
            self.trees[mode] = (shapely.STRtree(self.geometry[rows]), rows)
        return self.trees[mode]


@dataclass
class NetworkArrays:
    """The graph as a sparse matrix for one travel mode and weight.

    Attributes
    ----------
    nodes
        Graph node ids; row/column ``i`` of ``csr`` is ``nodes[i]``.
    csr
        ``(n, n)`` CSR array of edge weights (seconds for ``"time"``, metres for
        ``"length"``), the cheapest of parallel edges; streets the mode may not use are
        absent; for walking every edge also runs backwards.
    mode, weight
        What the weights mean.
    """

    nodes: np.ndarray
    csr: sp.csr_array
    mode: str
    weight: str

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
        """Build the array form of ``graph`` for ``mode`` (``weight`` ``"time"`` or ``"length"``)."""
        _check_mode(mode)
        nodes = np.array(list(graph.nodes))
        index = pd.Index(nodes)
        u, v, w = _edge_weights(graph, mode, weight)
        keep = np.isfinite(w) & (u != v)
        ui, vi, w = index.get_indexer(u[keep]), index.get_indexer(v[keep]), w[keep]
        if mode == "walk":
            ui, vi, w = np.concatenate([ui, vi]), np.concatenate([vi, ui]), np.concatenate([w, w])
        # cheapest parallel edge: csr_array would sum duplicates, so reduce first
        frame = pd.DataFrame({"u": ui, "v": vi, "w": np.maximum(w, 1e-6)})  # csgraph drops zero weights
        frame = frame.groupby(["u", "v"], sort=False)["w"].min().reset_index()
        n = len(nodes)
        csr = sp.csr_array((frame["w"].to_numpy(), (frame["u"].to_numpy(), frame["v"].to_numpy())), shape=(n, n))
        return cls(nodes=nodes, csr=csr, mode=mode, weight=weight)

    def index_of(self, node_ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Row indices of ``node_ids`` (``-1`` for unknown ids)."""
        return pd.Index(self.nodes).get_indexer(np.asarray(node_ids))


_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[Any, Any]] = weakref.WeakKeyDictionary()


def network_arrays(graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
    """Cached ``NetworkArrays`` of ``graph`` (treat the graph as read-only after loading)."""
    cache = _CACHE.setdefault(graph, {})
    key = ("arrays", mode, weight, graph.number_of_edges())
    if key not in cache:
        cache[key] = NetworkArrays.from_graph(graph, mode, weight)
    return cache[key]


def clear_cache(graph: nx.MultiDiGraph) -> None:
    """Forget the cached array forms of ``graph`` (call after editing it)."""
    _CACHE.pop(graph, None)


def _edge_weights(graph: nx.MultiDiGraph, mode: str, weight: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    attr = _weight_attr(mode, weight)
    rows = [(u, v, d.get(attr, math.inf), d.get("time_s_" + mode, math.inf)) for u, v, d in graph.edges(data=True)]
    if not rows:
        empty = np.array([])
        return empty, empty, empty
    u, v, w, t = zip(*rows, strict=True)
    w_arr = np.asarray(w, dtype=float)
    w_arr[~np.isfinite(np.asarray(t, dtype=float))] = math.inf  # a street the mode may not use
    return np.asarray(u), np.asarray(v), w_arr


def _weight_attr(mode: str, weight: str) -> str:
    if weight == "time":
        return time_attr(mode)
    if weight == "length":
        return "length"
    raise ValueError(f"weight must be 'time' or 'length', not {weight!r}")


def edge_weight(mode: str, weight: str = "time") -> Callable[[Any, Any, dict], float | None]:
    """A networkx weight function for ``mode``: cheapest usable parallel edge, ``None`` if none.

    For walking, pass it to routing on ``graph.to_undirected()`` or a graph with reversed
    edges added, since walking ignores one-way rules.
    """
    attr = _weight_attr(mode, weight)
    time_key = time_attr(mode)

    def _weight(u: Any, v: Any, data: dict) -> float | None:
        values = [d[attr] for d in data.values() if math.isfinite(d.get(time_key, math.inf))]
        return min(values) if values else None

    return _weight


def _edge_index(graph: nx.MultiDiGraph) -> _EdgeIndex:
    cache = _CACHE.setdefault(graph, {})
    key = ("edges", graph.number_of_edges())
    if key in cache:
        return cache[key]
    import geopandas as gpd
    import osmnx as ox

    edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True).reset_index()
    oneway = edges["oneway"].fillna(False).astype(bool) if "oneway" in edges else pd.Series(False, index=edges.index)
    edges["oneway"] = oneway.to_numpy()
    # one row per two-way street: its reverse twin has the same length and reversed geometry
    edges["a"] = np.where(edges["u"].to_numpy() <= edges["v"].to_numpy(), edges["u"], edges["v"])
    edges["b"] = np.where(edges["u"].to_numpy() <= edges["v"].to_numpy(), edges["v"], edges["u"])
    edges["len_cm"] = np.round(edges["length"].astype(float) * 100).astype(np.int64)
    edges["backward"] = edges["u"].to_numpy() > edges["v"].to_numpy()
    edges = edges.sort_values(["backward", "a", "b", "key"], kind="stable")
    twin = edges.duplicated(["a", "b", "len_cm", "oneway"]) & ~edges["oneway"]
    edges = edges[~twin.to_numpy()]
    geo = gpd.GeoSeries(edges["geometry"].to_numpy(), crs=graph.graph.get("crs", "EPSG:4326"))
    crs = geo.estimate_utm_crs()
    projected = geo.to_crs(crs).to_numpy()
    allowed = {
        mode: np.isfinite(edges[time_attr(mode)].astype(float).to_numpy())
        if time_attr(mode) in edges
        else np.ones(len(edges), bool)
        for mode in TRAVEL_MODES
    }
    index = _EdgeIndex(
        crs=crs,
        u=edges["u"].to_numpy(),
        v=edges["v"].to_numpy(),
        key=edges["key"].to_numpy(),
        length_m=edges["length"].astype(float).to_numpy(),
        oneway=edges["oneway"].to_numpy(bool),
        geometry=projected,
        allowed=allowed,
        trees={},
    )
    cache[key] = index
    return index


# --------------------------------------------------------------------------------------
# Snapping
# --------------------------------------------------------------------------------------


def snap_points(
    graph: nx.MultiDiGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    mode: str | None = None,
    far_snap_m: float = 150.0,
) -> pd.DataFrame:
    """Snap WGS-84 points onto their nearest street edge.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        Point coordinates, degrees (WGS-84).
    mode
        Only snap to streets this travel mode may use (``None``: any street).
    far_snap_m
        Log a warning naming how many points lie farther than this from any street, m.

    Returns
    -------
    pandas.DataFrame
        One row per point, in input order: ``u``, ``v``, ``key`` (the directed edge),
        ``frac`` (0 at ``u`` .. 1 at ``v``), ``offset_m`` (distance from ``u`` along the
        edge, m), ``edge_length_m``, ``oneway``, ``snap_dist_m`` (point to street, m),
        ``snap_lon``, ``snap_lat`` (the snapped position). ``attrs["mode"]`` records ``mode``.
    """
    from pyproj import Transformer

    if mode is not None:
        _check_mode(mode)
    lon_arr = np.asarray(lon, dtype=float)
    lat_arr = np.asarray(lat, dtype=float)
    if lon_arr.shape != lat_arr.shape or lon_arr.ndim != 1:
        raise ValueError("lon and lat must be 1-d arrays of the same length")
    if not (np.isfinite(lon_arr).all() and np.isfinite(lat_arr).all()):
        raise ValueError("lon and lat must be finite; drop or fix points without coordinates first")
    index = _edge_index(graph)
    tree, rows = index.tree(mode)
    if len(rows) == 0:
        raise ValueError(f"the road network has no street that mode {mode!r} may use")
    to_m = Transformer.from_crs("EPSG:4326", index.crs, always_xy=True)
    x, y = to_m.transform(lon_arr, lat_arr)
    points = shapely.points(x, y)
    hits, dist = tree.query_nearest(points, return_distance=True, all_matches=True)
    # ties (a point at a street corner): keep the lowest edge row, so snapping is deterministic
    order = np.lexsort((hits[1], hits[0]))
    first = order[np.r_[True, np.diff(hits[0][order]) != 0]]
    edge = rows[hits[1][first]]
    dist = dist[first]
    lines = index.geometry[edge]
    frac = shapely.line_locate_point(lines, points, normalized=True)
    frac = np.nan_to_num(frac, nan=0.0)  # zero-length edges
    length = index.length_m[edge]
    offset = frac * length
    frac = np.where(offset < _AT_NODE_M, 0.0, np.where(length - offset < _AT_NODE_M, 1.0, frac))
    snapped = shapely.line_interpolate_point(lines, frac, normalized=True)
    back = Transformer.from_crs(index.crs, "EPSG:4326", always_xy=True)
    snap_lon, snap_lat = back.transform(shapely.get_x(snapped), shapely.get_y(snapped))
    out = pd.DataFrame(
        {
            "u": index.u[edge],
            "v": index.v[edge],
            "key": index.key[edge],
            "frac": frac,
            "offset_m": frac * length,
            "edge_length_m": length,
            "oneway": index.oneway[edge],
            "snap_dist_m": dist,
            "snap_lon": snap_lon,
            "snap_lat": snap_lat,
        }
    )
    out.attrs["mode"] = mode
    far = int((dist > far_snap_m).sum())
    if far:
        log.warning(
            "%d of %d points lie farther than %.0f m from any street (farthest %.0f m); check their coordinates",
            far,
            len(out),
            far_snap_m,
            float(dist.max()),
        )
    return out


# --------------------------------------------------------------------------------------
# Matrices
# --------------------------------------------------------------------------------------

Points = pd.DataFrame | tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]


def travel_time_matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None = None,
    *,
    mode: str = "car",
    dtype: Any = np.float32,
    workers: int = 1,
) -> np.ndarray:
    """Travel times between two point sets along the streets, seconds.

    Each point sits on its snapped edge: it leaves along the edge to either end the mode may
    drive towards, arrives likewise, and walks/rides/drives its snap distance at the mode's
    speed at both ends (access time). Two points on the same edge in an order the mode may
    travel go straight along it.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    origins, destinations
        ``(lon, lat)`` arrays, a frame with ``lon``/``lat`` columns, or a frame from
        ``snap_points``; ``destinations=None`` means the origins.
    mode
        ``walk``, ``ebike`` or ``car``.
    dtype
        Output dtype (``float32`` halves memory; ~0.01 s resolution at an hour).
    workers
        Processes for the Dijkstra runs (forked; used from 4 blocks of 128 street nodes on).
        The default 1 is safest inside threaded hosts; 2 gives ~1.5x on an idle 2-core machine.

    Returns
    -------
    numpy.ndarray
        ``(n_origins, n_destinations)`` seconds; ``inf`` where unreachable. With
        ``destinations=None`` the diagonal is 0.
    """
    return _matrix(graph, origins, destinations, mode=mode, weight="time", dtype=dtype, workers=workers)


def distance_matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None = None,
    *,
    mode: str = "car",
    dtype: Any = np.float32,
    workers: int = 1,
) -> np.ndarray:
    """Shortest street distances between two point sets for ``mode``, metres (snap distances included).

    Same conventions as ``travel_time_matrix``; routes minimise length, not time.
    """
    return _matrix(graph, origins, destinations, mode=mode, weight="length", dtype=dtype, workers=workers)


@dataclass
class _Ends:
    """Where each point joins the network: two candidate nodes with the cost to/from each."""

    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_key: np.ndarray
    frac: np.ndarray
    edge_w: np.ndarray
    two_way: np.ndarray
    access: np.ndarray

    def leave(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): leave forwards via v, backwards via u."""
        cost_v = (1.0 - self.frac) * self.edge_w
        cost_u = np.where(self.two_way, self.frac * self.edge_w, np.where(self.frac == 0.0, 0.0, np.inf))
        return self.edge_v, cost_v, self.edge_u, cost_u

    def arrive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): arrive forwards from u, backwards from v."""
        cost_u = self.frac * self.edge_w
        cost_v = np.where(self.two_way, (1.0 - self.frac) * self.edge_w, np.where(self.frac == 1.0, 0.0, np.inf))
        return self.edge_u, cost_u, self.edge_v, cost_v


def _as_snapped(graph: nx.MultiDiGraph, points: Points, mode: str) -> pd.DataFrame:
    if isinstance(points, pd.DataFrame) and {"u", "v", "key", "frac", "oneway", "snap_dist_m"} <= set(points.columns):
        snapped_mode = points.attrs.get("mode")
        if snapped_mode not in (None, mode):
            log.warning("points were snapped for mode %r but routed for %r", snapped_mode, mode)
        return points
    if isinstance(points, pd.DataFrame):
        lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    else:
        lon, lat = points
    speeds = graph.graph.get("speeds") or {}
    return snap_points(graph, lon, lat, mode=mode, far_snap_m=float(speeds.get("far_snap_m", 150.0)))


def _ends(graph: nx.MultiDiGraph, snapped: pd.DataFrame, mode: str, weight: str) -> _Ends:
    attr = _weight_attr(mode, weight)
    time_key = time_attr(mode)
    u = snapped["u"].to_numpy()
    v = snapped["v"].to_numpy()
    k = snapped["key"].to_numpy()
    edges = graph.edges
    w = np.empty(len(snapped))
    for i, (a, b, c) in enumerate(zip(u, v, k, strict=True)):
        data = edges[a, b, c]
        w[i] = data[attr] if math.isfinite(data.get(time_key, math.inf)) else math.inf
    two_way = np.ones(len(snapped), bool) if mode == "walk" else ~snapped["oneway"].to_numpy(bool)
    dist = snapped["snap_dist_m"].to_numpy(float)
    access = dist if weight == "length" else dist / (_mode_kmh(graph, mode) / 3.6)
    return _Ends(u, v, k, snapped["frac"].to_numpy(float), w, two_way, access)


def _mode_kmh(graph: nx.MultiDiGraph, mode: str) -> float:
    speeds = {**asdict(Speeds()), **(graph.graph.get("speeds") or {})}
    return float(speeds[f"{mode}_kmh"])


def _matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None,
    *,
    mode: str,
    weight: str,
    dtype: Any,
    workers: int,
) -> np.ndarray:
    _check_mode(mode)
    arrays = network_arrays(graph, mode, weight)
    snap_o = _as_snapped(graph, origins, mode)
    snap_d = snap_o if destinations is None else _as_snapped(graph, destinations, mode)
    o = _ends(graph, snap_o, mode, weight)
    d = o if destinations is None else _ends(graph, snap_d, mode, weight)
    out = np.full((len(snap_o), len(snap_d)), np.inf, dtype=dtype)
    if out.size == 0:
        return out

    la, lca, lb, lcb = o.leave()
    aa, aca, ab, acb = d.arrive()
    src_a, src_b = arrays.index_of(la), arrays.index_of(lb)
    dst_a, dst_b = arrays.index_of(aa), arrays.index_of(ab)
    lca, lcb = np.where(src_a < 0, np.inf, lca), np.where(src_b < 0, np.inf, lcb)
    aca, acb = np.where(dst_a < 0, np.inf, aca), np.where(dst_b < 0, np.inf, acb)
    sources = np.unique(np.concatenate([src_a[np.isfinite(lca)], src_b[np.isfinite(lcb)]]))
    targets = np.unique(np.concatenate([dst_a[np.isfinite(aca)], dst_b[np.isfinite(acb)]]))
    float32 = np.dtype(dtype) != np.float64
    node_d = _node_distances(
        arrays.csr, sources, targets, workers=workers, float32=float32
    )  # (S+1, T+1), last row/col inf
    s_pos_a = np.where(np.isfinite(lca), np.searchsorted(sources, src_a), len(sources))
    s_pos_b = np.where(np.isfinite(lcb), np.searchsorted(sources, src_b), len(sources))
    t_pos_a = np.where(np.isfinite(aca), np.searchsorted(targets, dst_a), len(targets))
    t_pos_b = np.where(np.isfinite(acb), np.searchsorted(targets, dst_b), len(targets))

    # combine in small row blocks (cache-sized), in float32 unless float64 was asked for
    work = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    node_d = node_d.astype(work, copy=False)
    lca, lcb, aca, acb = (x.astype(work) for x in (lca, lcb, aca, acb))
    acc_o, acc_d = o.access.astype(work), d.access.astype(work)
    chunk = max(1, 262_144 // max(1, len(snap_d)))
    for start in range(0, len(snap_o), chunk):
        rows = slice(start, start + chunk)
        reach = node_d[s_pos_a[rows]]
        reach += lca[rows, None]
        np.minimum(reach, node_d[s_pos_b[rows]] + lcb[rows, None], out=reach)
        block = reach[:, t_pos_a]
        block += aca
        second = reach[:, t_pos_b]
        second += acb
        np.minimum(block, second, out=block)
        block += acc_o[rows, None]
        block += acc_d
        out[rows] = block

    _direct_same_edge(out, o, d)
    if destinations is None:
        np.fill_diagonal(out, 0.0)  # a point to itself; its access legs cancel
    return out


def _direct_same_edge(out: np.ndarray, o: _Ends, d: _Ends) -> None:
    """Lower ``out`` where origin and destination share an edge and may go straight along it."""
    left = pd.DataFrame({"u": o.edge_u, "v": o.edge_v, "k": o.edge_key, "i": np.arange(len(o.frac))})
    right = pd.DataFrame({"u": d.edge_u, "v": d.edge_v, "k": d.edge_key, "j": np.arange(len(d.frac))})
    pairs = left.merge(right, on=["u", "v", "k"])
    if pairs.empty:
        return
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    f, g, w = o.frac[i], d.frac[j], o.edge_w[i]
    along = np.where(g >= f, (g - f) * w, np.where(o.two_way[i], (f - g) * w, np.inf))
    direct = along + o.access[i] + d.access[j]
    out[i, j] = np.minimum(out[i, j], direct)


_WORK: dict[str, Any] = {}


def _dijkstra_block(sources: np.ndarray) -> np.ndarray:
    csr, targets, directed = _WORK["csr"], _WORK["targets"], _WORK["directed"]
    dist = dijkstra(csr, directed=directed, indices=sources)
    return dist[:, targets].astype(np.float32 if _WORK["float32"] else np.float64)


def _node_distances(
    csr: sp.csr_array, sources: np.ndarray, targets: np.ndarray, *, workers: int, float32: bool = False
) -> np.ndarray:
    """Shortest distances from ``sources`` to ``targets`` (node rows), padded with an inf row and column.

    Runs Dijkstra from whichever side has fewer nodes (on the transposed graph for targets).
    """
    result = np.full((len(sources) + 1, len(targets) + 1), np.inf, dtype=np.float32 if float32 else np.float64)
    if len(sources) == 0 or len(targets) == 0:
        return result
    reverse = len(targets) < len(sources)
    graph = csr.T.tocsr() if reverse else csr
    roots, cols = (targets, sources) if reverse else (sources, targets)
    _WORK.update(csr=graph, targets=cols, directed=True, float32=float32)
    block_size = 128
    blocks = [roots[i : i + block_size] for i in range(0, len(roots), block_size)]
    n_workers = max(1, workers)
    parallel = n_workers > 1 and len(blocks) >= 4 and hasattr(os, "fork")
    try:
        if parallel:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # fork: workers inherit the CSR arrays without pickling them
            with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = list(pool.map(_dijkstra_block, blocks))
        else:
            parts = [_dijkstra_block(block) for block in blocks]
    finally:
        _WORK.clear()
    dist = np.vstack(parts)
    if reverse:
        dist = dist.T
    result[:-1, :-1] = dist
    return result


# --------------------------------------------------------------------------------------
# Route geometry
# --------------------------------------------------------------------------------------


def shortest_path_geometry(
    graph: nx.MultiDiGraph,
    origin: tuple[float, float],
    destination: tuple[float, float],
    *,
    mode: str = "car",
) -> shapely.LineString:
    """The fastest street route between two WGS-84 points as a line (for route maps).

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    origin, destination
        ``(lon, lat)`` in degrees.
    mode
        ``walk``, ``ebike`` or ``car``.

    Returns
    -------
    shapely.LineString
        WGS-84 line from the origin through its snapped position, along the streets, to the
        destination. A straight two-point line with a logged warning if unreachable.
    """
    _check_mode(mode)
    snapped = snap_points(graph, [origin[0], destination[0]], [origin[1], destination[1]], mode=mode)
    ends = _ends(graph, snapped, mode, "time")
    o, d = snapped.iloc[0], snapped.iloc[1]
    la, lca, lb, lcb = (x[0] for x in ends.leave())
    aa, aca, ab, acb = (x[1] for x in ends.arrive())
    best: tuple[float, list[Any], int, int] = (math.inf, [], 0, 0)  # cost, node path, leave side, arrive side
    f, g = float(o["frac"]), float(d["frac"])
    same_edge = (o["u"], o["v"], o["key"]) == (d["u"], d["v"], d["key"])
    if same_edge and (g >= f or ends.two_way[0]):
        best = (abs(g - f) * ends.edge_w[0], [], -1, -1)
    arrays = network_arrays(graph, mode, "time")
    for side, node, cost in ((0, la, lca), (1, lb, lcb)):
        if not math.isfinite(cost):
            continue
        src = int(arrays.index_of([node])[0])
        dist, pred = dijkstra(arrays.csr, indices=src, return_predecessors=True)
        for arrive_side, target, tail in ((0, aa, aca), (1, ab, acb)):
            tgt = int(arrays.index_of([target])[0])
            total = cost + dist[tgt] + tail
            if math.isfinite(total) and total < best[0]:
                path = [tgt]
                while path[-1] != src:
                    path.append(int(pred[path[-1]]))
                best = (total, [arrays.nodes[i] for i in reversed(path)], side, arrive_side)
    if not math.isfinite(best[0]):
        log.warning("no %s route from %s to %s; drawing a straight line", mode, origin, destination)
        return shapely.LineString([origin, destination])
    _, path, leave_side, arrive_side = best
    coords: list[tuple[float, float]] = [tuple(origin)]
    if leave_side == -1:
        coords += _edge_piece(graph, o, f, g)
    else:
        coords += _edge_piece(graph, o, f, 1.0 if leave_side == 0 else 0.0)
        for a, b in itertools.pairwise(path):
            coords += _street_coords(graph, a, b, mode)
        coords += _edge_piece(graph, d, 0.0 if arrive_side == 0 else 1.0, g)
    coords.append(tuple(destination))
    return shapely.LineString(_dedupe(coords))


def route_geometries(
    graph: nx.MultiDiGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    mode: str = "car",
) -> list[shapely.LineString]:
    """Street lines of the legs of a route visiting the points in order (for route maps).

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        The stops in visiting order, degrees (WGS-84).
    mode
        ``walk``, ``ebike`` or ``car``.

    Returns
    -------
    list of shapely.LineString
        ``len(lon) - 1`` WGS-84 lines, leg ``i`` from stop ``i`` to stop ``i + 1``.
    """
    stops = list(zip(np.asarray(lon, float), np.asarray(lat, float), strict=True))
    return [shortest_path_geometry(graph, a, b, mode=mode) for a, b in itertools.pairwise(stops)]


def _edge_line(graph: nx.MultiDiGraph, u: Any, v: Any, key: Any) -> shapely.LineString:
    data = graph.edges[u, v, key]
    if "geometry" in data:
        return data["geometry"]
    nu, nv = graph.nodes[u], graph.nodes[v]
    return shapely.LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])


def _edge_piece(graph: nx.MultiDiGraph, row: pd.Series, start: float, end: float) -> list[tuple[float, float]]:
    from shapely.ops import substring

    line = _edge_line(graph, row["u"], row["v"], row["key"])
    # fractions are of metres: cut on a locally equirectangular copy, so degrees of lon and
    # lat weigh as much as on the ground, then scale back
    scale = math.cos(math.radians(line.centroid.y))
    metric = shapely.transform(line, lambda xy: xy * np.array([scale, 1.0]))
    piece = substring(metric, start, end, normalized=True)
    if piece.is_empty:
        return []
    return [(x / scale, y) for x, y in piece.coords]


def _street_coords(graph: nx.MultiDiGraph, a: Any, b: Any, mode: str) -> list[tuple[float, float]]:
    time_key = time_attr(mode)
    options = [(d[time_key], (a, b, k), False) for k, d in graph.get_edge_data(a, b, default={}).items()]
    if mode == "walk":
        options += [(d[time_key], (b, a, k), True) for k, d in graph.get_edge_data(b, a, default={}).items()]
    _, (u, v, k), backwards = min((o for o in options if math.isfinite(o[0])), key=lambda o: o[0])
    coords = list(_edge_line(graph, u, v, k).coords)
    return coords[::-1] if backwards else coords


def _dedupe(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [coords[0]]
    for c in coords[1:]:
        if c != out[-1]:
            out.append(c)
    if len(out) == 1:
        out.append(out[0])
    return out


def _check_mode(mode: str) -> None:
    if mode not in TRAVEL_MODES:
        raise ValueError(f"unknown travel mode {mode!r}; use one of {', '.join(TRAVEL_MODES)}")
