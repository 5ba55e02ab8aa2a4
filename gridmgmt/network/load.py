"""Loading road networks: OSM XML and PBF extracts, osmnx GraphML, online place names.

The road network is an osmnx ``MultiDiGraph`` in WGS-84 with ``length`` in metres. Every
source ends in the same canonical builder, ``add_travel_times``, which adds one travel-time
attribute per travel mode (``time_s_walk``, ``time_s_ebike``, ``time_s_car``; seconds, ``inf``
where the mode may not use the street) and, on one-way edges, the time against the edge
(``time_s_<mode>_back``). Which mode may use which street in which direction follows the OSM
access tags (:mod:`gridmgmt.network.access`): one-way streets bind cars and e-bikes (which may be
pushed against them at walking speed); people on foot may walk them both ways.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import networkx as nx

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES, Speeds
from gridmgmt.coords import WGS84
from gridmgmt.network.access import (
    ACCESS_TAGS,
    DRIVE,
    NONE,
    PUSH,
    RIDE,
    TRAVEL_ATTR,
    WALK,
    check_preset,
    set_travel_codes,
)
from gridmgmt.network.cache import forget_graph
from gridmgmt.network.extract import prepare_extract
from gridmgmt.network.modes import ACCESS_PRESETS, DEFAULT_CAR_KMH, FALLBACK_CAR_KMH, back_attr, time_attr

log = logging.getLogger(__name__)

OSM_XML_SUFFIXES = (".osm", ".xml", ".osm.gz", ".osm.bz2", ".xml.gz", ".xml.bz2")
PBF_SUFFIXES = (".osm.pbf", ".pbf")
GRAPHML_SUFFIXES = (".graphml",)
NETWORK_SUFFIXES = OSM_XML_SUFFIXES + PBF_SUFFIXES + GRAPHML_SUFFIXES


def load_network(
    source: str | os.PathLike,
    *,
    speeds: Speeds = Speeds(),  # noqa: B008
    boundary: Any = None,
    buffer_m: float = 1000.0,
    street_classes: str | Sequence[str] = "default",
    cache_dir: str | os.PathLike | None = None,
    access: str | None = None,
) -> nx.MultiDiGraph:
    """Load a road network file as an osmnx graph with per-mode travel times.

    OSM XML (``.osm``, ``.xml``, optionally ``.gz``/``.bz2``) and PBF extracts (``.osm.pbf``,
    ``.pbf``) from any source, clipped or not, go through
    :func:`gridmgmt.network.extract.prepare_extract`: streamed with osmium to the streets of
    ``street_classes`` near ``boundary``, references to nodes outside a clipped extract dropped
    and counted, the clean file cached by the source's hash; then ``osmnx.graph_from_xml``.
    GraphML (``.graphml``) is read with ``osmnx.load_graphml``.

    Parameters
    ----------
    source
        Path of the network file.
    speeds
        Travel speeds (km/h); ``speeds.car_kmh`` caps every street's own speed.
    boundary
        The district (GeoDataFrame, GeoSeries or shapely geometry, any CRS); streets farther than
        ``buffer_m`` metres from it are left out. None keeps the whole extract.
    buffer_m
        Margin around the boundary, metres.
    street_classes
        A preset name (``default``, ``cn``, ``eu``: see :mod:`gridmgmt.network.extract`) or a
        list of OSM ``highway`` values to keep.
    cache_dir
        Folder of the cleaned extracts (default: the user's cache folder).
    access
        Highway class defaults of the access rules, a key of ``modes.ACCESS_PRESETS``
        (``default``, ``cn``); None takes ``cn`` when ``street_classes`` is ``"cn"``, else
        ``default``.

    Returns
    -------
    networkx.MultiDiGraph
        WGS-84 graph (``x`` = lon, ``y`` = lat), one-way streets one-way, edge ``length``
        in metres, ``travel`` (access code, see :mod:`gridmgmt.network.access`) and
        ``time_s_walk``, ``time_s_ebike``, ``time_s_car`` (plus ``time_s_<mode>_back`` against
        the edge) in seconds; every weakly connected piece of the extract is kept (routing uses
        each mode's largest strongly connected component); ``graph.graph["extract"]``
        summarises what the extract preparation kept and dropped, ``graph.graph["access"]``
        names the preset.

    Raises
    ------
    InputError
        If the file is missing, of an unknown type, unreadable or has no streets.
    """
    path = Path(source)
    file = str(path)
    _check_network_file(path)
    if access is None:
        access = street_classes if isinstance(street_classes, str) and street_classes in ACCESS_PRESETS else "default"
    try:
        check_preset(access)
    except ValueError as exc:
        raise InputError(Problem(file=file, field="access", value=access, message=str(exc))) from None
    import osmnx as ox

    try:
        if _suffix(path) in GRAPHML_SUFFIXES:
            graph = ox.load_graphml(path)
            if not _is_wgs84(graph):
                graph = ox.project_graph(graph, to_latlong=True)
        else:
            prepared = prepare_extract(
                path, boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir, highway=street_classes
            )
            with _access_tags_kept():
                raw = ox.graph_from_xml(prepared.path, bidirectional=False, simplify=False, retain_all=True)
            graph = _simplify(raw, access)
            graph.graph["extract"] = prepared.summary()
            if prepared.dangling_refs:
                log.info("%s", prepared.summary())
    except InputError:
        raise
    except Exception as exc:  # osmium/XML/GraphML parser errors: name the file, not a traceback
        raise InputError(
            Problem(
                file=file,
                message=f"cannot read the road network: {type(exc).__name__}: {str(exc).rstrip('.')}",
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
    return add_travel_times(graph, speeds=speeds, access=access)


@contextmanager
def _access_tags_kept() -> Iterator[None]:
    """osmnx keeps the way tags the access rules read (``access.ACCESS_TAGS``) while building a graph."""
    import osmnx as ox

    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*saved, *ACCESS_TAGS]))
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


def _simplify(graph: nx.MultiDiGraph, access: str) -> nx.MultiDiGraph:
    """osmnx's simplification, never merging edges the modes may use differently (their ``travel`` code)."""
    import osmnx as ox

    set_travel_codes(graph, access)
    return ox.simplify_graph(graph, edge_attrs_differ=[TRAVEL_ATTR])


def _check_network_file(path: Path) -> None:
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


def graph_from_place(name: str, *, speeds: Speeds = Speeds(), access: str = "default") -> nx.MultiDiGraph:  # noqa: B008
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
    access
        Highway class defaults of the access rules (``default``, ``cn``).

    Returns
    -------
    networkx.MultiDiGraph
        As ``load_network`` returns.
    """
    import osmnx as ox

    check_preset(access)
    with _access_tags_kept():
        raw = ox.graph_from_place(name, network_type="all", simplify=False, retain_all=True)
    graph = _simplify(raw, access)
    graph.graph["source"] = name
    return add_travel_times(graph, speeds=speeds, access=access)


def add_travel_times(
    graph: nx.MultiDiGraph,
    *,
    speeds: Speeds = Speeds(),  # noqa: B008
    access: str = "default",
) -> nx.MultiDiGraph:
    """Add ``speed_kph`` and per-mode travel times (seconds) to every edge, in place.

    Which mode may travel an edge in which direction comes from its ``travel`` code (set from
    the edge's OSM tags by :func:`gridmgmt.network.access.set_travel_codes` where missing, with
    the ``access`` preset's highway class defaults). Cars drive at the street's ``maxspeed``
    (per-highway defaults in ``DEFAULT_CAR_KMH`` where untagged), capped at ``speeds.car_kmh``;
    walking, riding an e-bike and pushing it (at walking speed) use constant speeds.

    Sets ``time_s_<mode>`` (along the edge) and ``time_s_<mode>_back`` (against it; finite
    only on one-way edges, where osmnx added no reverse twin, for modes that may go both ways:
    walking, e-bikes pushed or with ``oneway:bicycle=no``). ``inf`` where the mode may not.

    Parameters
    ----------
    graph
        osmnx graph with ``length`` (m) and ``highway`` on its edges.
    speeds
        Travel speeds (km/h).
    access
        Highway class defaults (``default``, ``cn``) for edges without a ``travel`` code.

    Returns
    -------
    networkx.MultiDiGraph
        The same graph.
    """
    import osmnx as ox

    if graph.number_of_edges() == 0:
        return graph
    if any(TRAVEL_ATTR not in data for _, _, data in graph.edges(data=True)):
        set_travel_codes(graph, access)
    ox.routing.add_edge_speeds(graph, hwy_speeds=DEFAULT_CAR_KMH, fallback=FALLBACK_CAR_KMH)
    mps = {NONE: 0.0, WALK: speeds.walk_kmh / 3.6, PUSH: speeds.walk_kmh / 3.6, RIDE: speeds.ebike_kmh / 3.6}
    names = [(time_attr(mode), back_attr(mode)) for mode in TRAVEL_MODES]
    for _, _, data in graph.edges(data=True):
        code = data[TRAVEL_ATTR]
        length_m = float(data["length"])
        car_mps = min(float(data["speed_kph"]), speeds.car_kmh) / 3.6
        for i, (along, back) in enumerate(names):
            for attr, kind in ((along, code[2 * i]), (back, code[2 * i + 1])):
                speed = car_mps if kind == DRIVE else mps[kind]
                data[attr] = length_m / speed if speed > 0 else math.inf
    graph.graph["speeds"] = asdict(speeds)
    graph.graph.setdefault("access", access)
    forget_graph(graph)
    return graph


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(NETWORK_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ""


def _is_wgs84(graph: nx.MultiDiGraph) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(graph.graph.get("crs", WGS84)).equals(CRS.from_user_input(WGS84))
