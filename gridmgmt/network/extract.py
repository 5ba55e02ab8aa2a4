"""Real OSM extracts -> a clean street-only OSM XML that ``osmnx.graph_from_xml`` loads, cached.

A real extract (Geofabrik, BBBike, ``osmium extract``, an openstreetmap.org export) is cut
somewhere: ways crossing the cut still list nodes the file does not hold, and osmnx stops on
them ("Some edges missing nodes"). ``prepare_extract`` streams the file with pyosmium in two
passes (node locations in an osmium index, on disk for large files), keeps the street ways of
the configured highway classes that reach into the boundary plus a buffer, splits them at
nodes missing from the file and counts what it dropped, then writes OSM XML atomically into a
cache keyed by the source's content hash and the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridmgmt._errors import InputError, Problem
from gridmgmt.coords import WGS84
from gridmgmt.io import atomic_path, write_json
from gridmgmt.network.access import keeps_way
from gridmgmt.network.modes import ROUTABLE_HIGHWAYS

log = logging.getLogger(__name__)

#: Streets of every class a walking, e-bike or car inspector may use: what ``load_network``
#: keeps today. Footways, pedestrian streets, steps and paths stay because retailers sit in
#: pedestrian streets, alleys, markets and campuses and must snap to the way people reach
#: them; service roads stay because in Chinese cities residential compounds (小区) and campus
#: roads are mapped as ``service``; tracks stay for urban villages (城中村) and the urban
#: fringe; cycleways stay because e-bikes (non-motor vehicles) use them. The same set
#: on the clipped and the unclipped file gives the same graph as ``load_network`` on the
#: unclipped file.
DEFAULT_STREET_CLASSES: frozenset[str] = ROUTABLE_HIGHWAYS

#: Chinese city centres: the default without ``cycleway``, ``path`` and ``steps``. Chinese
#: mappers draw the non-motor lanes (非机动车道) beside arterials as separate ``cycleway``
#: ways, which double the arterial and cut thin sliver blocks along it, while e-bikes may
#: use the carriageway edge already; ``path`` and ``steps`` are mostly park and hill trails
#: with no shops on them.
CN_STREET_CLASSES: frozenset[str] = DEFAULT_STREET_CLASSES - {"cycleway", "path", "steps"}

#: European city centres: the default without ``track`` and ``cycleway``. Footways and
#: steps are real shortcuts between streets (old towns, hillside cities such as Monaco) and
#: stay; tracks are farm and forest tracks outside the built-up area, and separate
#: cycleways run beside roads that are kept anyway.
EU_STREET_CLASSES: frozenset[str] = DEFAULT_STREET_CLASSES - {"track", "cycleway"}

#: Named sets for district.toml (``[network] street_classes = "cn"``).
STREET_CLASS_PRESETS: dict[str, frozenset[str]] = {
    "default": DEFAULT_STREET_CLASSES,
    "cn": CN_STREET_CLASSES,
    "eu": EU_STREET_CLASSES,
}

#: File name endings osmium reads, and the osmium format string of each.
EXTRACT_FORMATS: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm.gz": "osm.gz",
    ".xml.gz": "osm.gz",
    ".osm.bz2": "osm.bz2",
    ".xml.bz2": "osm.bz2",
    ".osm": "osm",
    ".xml": "osm",
}

#: Bump when the output of ``prepare_extract`` changes for the same input and settings.
#: 2: ``access=no`` ways kept where a mode-specific tag allows a mode (``foot=yes``).
_CACHE_VERSION = 2
#: Sources larger than this (bytes) keep node locations in a file index, not in memory.
_DISK_INDEX_BYTES = 64 * 1024 * 1024
_METRE_PROJ = "+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"


class _Counts(TypedDict):
    """What the two passes kept and dropped (fields of :class:`PreparedExtract`)."""

    ways_kept: int
    ways_written: int
    nodes_kept: int
    dangling_refs: int
    ways_split: int
    ways_shortened: int
    ways_dropped: int
    ways_outside: int


@dataclass(frozen=True)
class PreparedExtract:
    """A street-only OSM XML made from an extract, and what was dropped on the way.

    Attributes
    ----------
    path : pathlib.Path
        The clean OSM XML (every way's nodes are in the file).
    source : str
        The extract it was made from.
    sha256 : str
        Content hash of the source file.
    ways_kept : int
        Street ways of the source written (whole or in pieces).
    ways_written : int
        Ways in the clean file (a way split at missing nodes counts once per piece).
    nodes_kept : int
        Nodes in the clean file.
    dangling_refs : int
        References from street ways to nodes missing from the source (dropped).
    ways_split : int
        Ways split into pieces at missing nodes (extra pieces get negative ids).
    ways_shortened : int
        Ways that lost nodes at an end (missing nodes, or a piece outside the area).
    ways_dropped : int
        Street ways dropped because fewer than two consecutive nodes are in the source.
    ways_outside : int
        Street ways dropped because they do not reach the boundary plus buffer.
    from_cache : bool
        True when ``path`` was made by an earlier call with the same source and settings.
    elapsed_s : float
        Wall time of this call, seconds.
    """

    path: Path
    source: str
    sha256: str
    ways_kept: int
    ways_written: int
    nodes_kept: int
    dangling_refs: int
    ways_split: int
    ways_shortened: int
    ways_dropped: int
    ways_outside: int
    from_cache: bool = False
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for the log or the CLI, e.g. ``"monaco.osm.pbf: 812 street ways, ..."``."""
        text = (
            f"{Path(self.source).name}: {self.ways_kept} street ways, {self.nodes_kept} nodes"
            f" ({self.dangling_refs} references to nodes outside the extract dropped,"
            f" {self.ways_split} ways split, {self.ways_shortened} shortened, {self.ways_dropped} dropped;"
            f" {self.ways_outside} outside the area)"
        )
        return text + (" from cache" if self.from_cache else f" in {self.elapsed_s:.1f} s")


def street_classes(value: str | Iterable[str]) -> frozenset[str]:
    """Highway classes from a preset name (``"default"``, ``"cn"``, ``"eu"``) or a list of classes.

    Raises
    ------
    ValueError
        For an unknown preset name or an empty list.
    """
    if isinstance(value, str):
        if value not in STREET_CLASS_PRESETS:
            raise ValueError(
                f"unknown street class set {value!r}; use one of {', '.join(STREET_CLASS_PRESETS)} or a list"
            )
        return STREET_CLASS_PRESETS[value]
    classes = frozenset(value)
    if not classes:
        raise ValueError("street classes must name at least one highway class")
    return classes


def extract_format(path: str | os.PathLike) -> str:
    """osmium format string of an extract by its name (``"pbf"``, ``"osm"``, ``"osm.gz"``, ...), or ``""``."""
    return EXTRACT_FORMATS.get(_suffix(Path(path)), "")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in sorted(EXTRACT_FORMATS, key=len, reverse=True) if name.endswith(s)), "")


def prepare_extract(
    source: str | os.PathLike,
    *,
    boundary: Any = None,
    buffer_m: float = 1000.0,
    cache_dir: str | os.PathLike | None = None,
    highway: str | Collection[str] = DEFAULT_STREET_CLASSES,
    progress: Callable[[str], None] | None = None,
) -> PreparedExtract:
    """Make a clean street-only OSM XML from an OSM extract, cut to a boundary, cached.

    Streams the source twice with pyosmium, so memory grows with the streets kept, not with
    the file: pass 1 stores node locations in an osmium index (in memory for small files,
    in a temporary file beside the cache for large ones) and looks at the street ways only;
    pass 2 reads the tags of the tagged nodes those ways use (traffic signals, crossings).
    Ways of the ``highway`` classes (not ``area=yes``, not ``access=no`` unless a mode-specific
    tag such as ``foot=yes`` opens them, see ``access.keeps_way``) that reach into
    ``boundary`` buffered by ``buffer_m`` are kept whole; references to nodes missing from
    the source split or shorten the way there and are counted. The result is OSM XML that
    ``osmnx.graph_from_xml`` loads.

    Parameters
    ----------
    source
        OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.xml``) or PBF (``.osm.pbf``), clipped
        or not.
    boundary
        Area to keep, WGS-84: a shapely (multi)polygon, or a GeoSeries/GeoDataFrame (any
        CRS; its union is used). ``None`` keeps every street in the file.
    buffer_m
        Margin around ``boundary``, metres, so streets just outside the district still
        connect the ones inside.
    cache_dir
        Folder for the clean XML and its counts (e.g. ``<district>/cache``); ``None`` uses
        ``$XDG_CACHE_HOME/gridmgmt/extracts`` (``~/.cache/gridmgmt/extracts``).
    highway
        Highway classes to keep: a set of classes or a preset name (see ``STREET_CLASS_PRESETS``).
    progress
        Called with a one-line message at each phase (also logged at INFO).

    Returns
    -------
    PreparedExtract
        The clean file's path and the counts; ``from_cache`` when an earlier call with the
        same source content and settings had made it.

    Raises
    ------
    InputError
        If the file is missing, empty, of an unknown type or unreadable, or has no streets
        (in the boundary).
    """
    start = time.perf_counter()
    path = Path(source)
    file = str(path)
    fmt = _check_source(path)
    try:
        classes = street_classes(highway)
    except ValueError as exc:
        raise InputError(Problem(file=file, message=str(exc))) from None
    area = None if boundary is None else _area(boundary, buffer_m, file)

    def say(message: str) -> None:
        log.info("%s", message)
        if progress is not None:
            progress(message)

    say(f"hashing {path.name}")
    digest = _sha256(path)
    key = _cache_key(digest, area, buffer_m, classes)
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    stem = path.name[: len(path.name) - len(_suffix(path))]
    target = folder / f"{stem}.{key[:16]}.streets.osm"
    counts_file = target.with_suffix(".json")
    cached = _read_cached(target, counts_file, key)
    if cached is not None:
        cached["source"] = file
        result = PreparedExtract(**cached, from_cache=True, elapsed_s=time.perf_counter() - start)
        say(result.summary())
        return result

    try:
        folder.mkdir(parents=True, exist_ok=True)
        counts = _write_clean(path, fmt, target, area, classes, say)
        result = PreparedExtract(path=target, source=file, sha256=digest, **counts)
        record = {f.name: getattr(result, f.name) for f in fields(result) if f.name not in ("from_cache", "elapsed_s")}
        record["path"] = target.name
        write_json({"key": key, "cache_version": _CACHE_VERSION, **record}, counts_file)
    except InputError:
        raise
    except OSError as exc:
        if exc.filename is None or Path(exc.filename).resolve().is_relative_to(folder.resolve()) is False:
            raise _unreadable(file, exc) from None
        raise InputError(
            Problem(
                file=str(folder),
                message=f"cannot write the prepared street network: {exc.strerror or exc}",
                hint="make the district's cache folder writable, or choose another one",
            )
        ) from None
    except Exception as exc:  # osmium parser errors: name the file, never a traceback
        raise _unreadable(file, exc) from None
    result = PreparedExtract(**{**asdict(result), "elapsed_s": time.perf_counter() - start})
    say(result.summary())
    return result


def _unreadable(file: str, exc: BaseException) -> InputError:
    return InputError(
        Problem(
            file=file,
            message=f"cannot read the OSM extract: {type(exc).__name__}: {exc}",
            hint="check that the file is a complete OSM XML (.osm, .osm.gz, .osm.bz2) or .osm.pbf download",
        )
    )


def _check_source(path: Path) -> str:
    file = str(path)
    if not path.is_file():
        raise InputError(
            Problem(
                file=file,
                message="OSM extract not found",
                hint="give an OSM extract (.osm, .osm.gz, .osm.bz2 or .osm.pbf), e.g. from download.geofabrik.de",
            )
        )
    fmt = extract_format(path)
    if not fmt:
        raise InputError(
            Problem(
                file=file,
                message=f"unsupported OSM extract format {path.suffix!r}",
                hint=f"use one of {', '.join(EXTRACT_FORMATS)}",
            )
        )
    if path.stat().st_size == 0:
        raise InputError(Problem(file=file, message="the OSM extract is empty", hint="download the extract again"))
    return fmt


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gridmgmt" / "extracts"


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _cache_key(digest: str, area: BaseGeometry | None, buffer_m: float, classes: frozenset[str]) -> str:
    settings = {
        "version": _CACHE_VERSION,
        "source": digest,
        # the buffered area already holds buffer_m; a rounded WKB keeps float noise out of the key
        "area": None if area is None else shapely.to_wkb(shapely.set_precision(area, 1e-7), hex=True),
        "buffer_m": round(float(buffer_m), 3),
        "highway": sorted(classes),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _read_cached(target: Path, counts_file: Path, key: str) -> dict[str, Any] | None:
    if not (target.is_file() and counts_file.is_file()):
        return None
    try:
        record = json.loads(counts_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.pop("key", None) != key or record.pop("cache_version", None) != _CACHE_VERSION:
        return None
    record["path"] = target
    names = {f.name for f in fields(PreparedExtract)} - {"from_cache", "elapsed_s"}
    return record if set(record) == names else None


def _area(boundary: Any, buffer_m: float, file: str) -> BaseGeometry:
    """The boundary (WGS-84) buffered by ``buffer_m`` metres, prepared for point tests."""
    from pyproj import Transformer

    geom = boundary
    if hasattr(boundary, "to_crs"):  # GeoSeries / GeoDataFrame
        if boundary.crs is not None:
            boundary = boundary.to_crs(WGS84)
        geom = boundary.union_all()
    if not isinstance(geom, BaseGeometry) or geom.is_empty or shapely.get_dimensions(geom) != 2:
        raise InputError(
            Problem(file=file, message="the boundary to cut the extract to is not a polygon", value=str(geom)[:60])
        )
    geom = shapely.make_valid(geom)
    if buffer_m > 0:
        centre = geom.centroid
        proj = _METRE_PROJ.format(lat=centre.y, lon=centre.x)
        to_m = Transformer.from_crs(WGS84, proj, always_xy=True)
        to_deg = Transformer.from_crs(proj, WGS84, always_xy=True)
        metric = shapely.transform(geom, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))
        buffered = shapely.buffer(shapely.segmentize(metric, 100.0), buffer_m, quad_segs=4)
        geom = shapely.transform(buffered, lambda xy: np.column_stack(to_deg.transform(xy[:, 0], xy[:, 1])))
    shapely.prepare(geom)
    return geom


def _location_store(path: Path, scratch: Path) -> str:
    if path.stat().st_size > _DISK_INDEX_BYTES:
        # a province has tens of millions of nodes: 16 bytes each in a file, not in memory
        return f"sparse_file_array,{scratch / 'locations.bin'}"
    return "flex_mem"


def _keep(tags: Any, classes: frozenset[str]) -> bool:
    return tags.get("highway") in classes and tags.get("area") != "yes" and keeps_way(tags)


def _runs(xs: list[float]) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of at least two consecutive nodes with a location (x not NaN)."""
    runs: list[tuple[int, int]] = []
    begin = None
    for i, x in enumerate([*xs, float("nan")]):
        if x == x:  # not NaN: the node is in the extract
            if begin is None:
                begin = i
        elif begin is not None:
            if i - begin >= 2:
                runs.append((begin, i))
            begin = None
    return runs


def _reaches(area: BaseGeometry | None, bounds: tuple[float, ...], xs: np.ndarray, ys: np.ndarray) -> bool:
    if area is None:
        return True
    west, south, east, north = bounds
    if xs.max() < west or xs.min() > east or ys.max() < south or ys.min() > north:
        return False
    if shapely.contains_xy(area, xs, ys).any():
        return True
    return bool(shapely.intersects(area, shapely.linestrings(xs, ys)))  # crosses without a vertex inside


def _write_clean(
    path: Path,
    fmt: str,
    target: Path,
    area: BaseGeometry | None,
    classes: frozenset[str],
    say: Callable[[str], None],
) -> _Counts:
    """The two streamed passes; writes ``target`` atomically and returns the counts."""
    import osmium

    counts = _Counts(
        ways_kept=0,
        ways_written=0,
        nodes_kept=0,
        dangling_refs=0,
        ways_split=0,
        ways_shortened=0,
        ways_dropped=0,
        ways_outside=0,
    )
    bounds = area.bounds if area is not None else (0.0, 0.0, 0.0, 0.0)
    pieces: list[tuple[int, list[int], dict[str, str]]] = []
    located: dict[int, tuple[float, float]] = {}  # (lon, lat) of every node a kept piece uses
    next_id = -1
    nan = float("nan")
    with tempfile.TemporaryDirectory(prefix=".locations-", dir=target.parent) as scratch:
        say(f"pass 1/2: street ways of {path.name}")
        ways = (
            osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations(_location_store(path, Path(scratch)))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))  # nodes only feed the location index
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in ways:
            if not isinstance(way, osmium.osm.Way) or not _keep(way.tags, classes) or len(way.nodes) < 2:
                continue
            refs = [nd.ref for nd in way.nodes]
            locs = [nd.location for nd in way.nodes]
            xs = [loc.lon if loc.valid() else nan for loc in locs]
            ys = [loc.lat if loc.valid() else nan for loc in locs]
            runs = _runs(xs)
            missing = sum(x != x for x in xs)
            if not runs:
                counts["ways_dropped"] += 1
                counts["dangling_refs"] += missing
                continue
            inside = [(a, b) for a, b in runs if _reaches(area, bounds, np.asarray(xs[a:b]), np.asarray(ys[a:b]))]
            if not inside:
                counts["ways_outside"] += 1
                continue
            counts["ways_kept"] += 1
            counts["dangling_refs"] += missing
            if len(inside) > 1:
                counts["ways_split"] += 1
            elif inside[0] != (0, len(refs)):
                counts["ways_shortened"] += 1
            tags = {tag.k: tag.v for tag in way.tags}
            for i, (a, b) in enumerate(inside):
                piece_id = way.id
                if i:  # osmnx keys ways by id: extra pieces get new (negative, as for new OSM objects) ids
                    piece_id, next_id = next_id, next_id - 1
                pieces.append((piece_id, refs[a:b], tags))
                located.update(zip(refs[a:b], zip(xs[a:b], ys[a:b], strict=True), strict=True))
    if not pieces:
        where = " within the boundary plus buffer" if area is not None else ""
        hint = "use an extract that covers the district"
        if area is not None:
            hint += f" (the kept area spans lon/lat {_fmt_bounds(bounds)})"
        if counts["ways_dropped"]:
            hint += (
                f"; {counts['ways_dropped']} street ways have fewer than two of their nodes in the file:"
                " if the file lists ways before nodes, sort it first (osmium sort)"
            )
        raise InputError(
            Problem(
                file=str(path),
                message=f"no streets (highway ways of the kept classes){where} in the OSM extract",
                hint=hint,
            )
        )
    say(f"pass 2/2: tags of {len(located)} nodes, writing {len(pieces)} ways")
    # Only tagged nodes reach Python (signals, crossings); osmium's IdFilter is not used because
    # its bitset takes ~4 MB per 33 million ids touched, over 1 GB for ids spread up to 13e9.
    node_tags: dict[int, dict[str, str]] = {}
    tagged = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE).with_filter(
        osmium.filter.EmptyTagFilter()
    )
    for node in tagged:
        if node.id in located:
            node_tags[node.id] = {tag.k: tag.v for tag in node.tags}
    with atomic_path(target) as tmp, osmium.SimpleWriter(str(tmp)) as writer:
        for node_id in sorted(located):
            writer.add_node(
                osmium.osm.mutable.Node(id=node_id, location=located[node_id], tags=node_tags.get(node_id, {}))
            )
        for piece_id, refs, tags in pieces:
            writer.add_way(osmium.osm.mutable.Way(id=piece_id, nodes=refs, tags=tags))
    counts["nodes_kept"] = len(located)
    counts["ways_written"] = len(pieces)
    return counts


def _fmt_bounds(bounds: tuple[float, ...]) -> str:
    west, south, east, north = bounds
    return f"{west:.4f},{south:.4f} - {east:.4f},{north:.4f}"
