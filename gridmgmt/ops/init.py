"""``gridmgmt init``: a new district folder from a retailer table and an OSM extract.

The folder gets copies of the inputs given and, for what is missing, inputs derived from the
retailers and the extract (boundary, placeholder staff pairs, a depot, subdistricts), each
stated in a note, plus a ``district.toml`` naming them all. Everything is written into a hidden
sibling folder first and renamed into place at the end, so a failure leaves nothing behind and
``--force`` replaces an old district only once the new one is complete.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from gridmgmt import io
from gridmgmt._errors import InputError, Problem
from gridmgmt.config import Files, Settings, load_settings
from gridmgmt.coords import COORD_SYSTEMS, in_china, metric_crs
from gridmgmt.inputs.retailers import load_retailers
from gridmgmt.inputs.tables import check_depots, load_boundary, load_depots, load_staff
from gridmgmt.inputs.validate import PLACEHOLDER, staff_modes
from gridmgmt.network import NETWORK_SUFFIXES
from gridmgmt.network.district import district_network
from gridmgmt.ops.init_derive import (
    depot_table,
    derive_boundary,
    derive_depot,
    derive_subdistricts,
    network_suffix,
)
from gridmgmt.ops.network_checks import unreachable_shops
from gridmgmt.store import open_store
from gridmgmt.vocab import LANGS

log = logging.getLogger(__name__)

RETAILERS_PER_PAIR = 420  # retailers one marketing manager and one monopoly officer look after
COMMAND_LINE = "command line"

_VECTOR_COPY_SUFFIXES = (".geojson", ".json", ".gpkg")
_COMPRESSED = (".gz", ".bz2", ".xz")
_STAFF_COLUMNS = ("staff_id", "name", "department", "grid_id", "depot", "travel_mode", "shift_start", "shift_end")


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_district` wrote.

    Attributes
    ----------
    district
        Path of the new ``district.toml``.
    files
        Every file written into the district folder, ``district.toml`` last.
    notes
        One human-readable line per input: where it came from or how it was derived.
    """

    district: Path
    files: tuple[Path, ...]
    notes: tuple[str, ...]

    def next_commands(self) -> list[str]:
        """The commands to run next, as shell lines, outputs kept inside the district folder.

        Each works on the district's current grids (the last build) and, for the dated ones, on the
        first day to plan (today, for a district without history), so none needs ``--grids`` or ``--date``.
        """
        toml = shlex.quote(str(self.district))
        # every command writes into the district folder's out/ and its store there by default
        return [
            f"gridmgmt validate --district {toml}",
            f"gridmgmt grids build --district {toml}",
            f"gridmgmt grids map --district {toml}",
            f"gridmgmt risk map --district {toml}",
            f"gridmgmt patrol plan --district {toml}",
        ]


def init_district(
    out_dir: str | os.PathLike,
    retailers: str | os.PathLike,
    network: str | os.PathLike,
    *,
    boundary: str | os.PathLike | None = None,
    pairs: int | None = None,
    staff: str | os.PathLike | None = None,
    depot: tuple[float, float] | str | None = None,
    depots: str | os.PathLike | None = None,
    coords: str = "wgs84",
    name: str | None = None,
    lang: str | None = None,
    force: bool = False,
) -> InitResult:
    """Create a district folder from a retailer table and a road network extract.

    Every input given is validated first (the usual one-line problems), then copied; the
    network is hard-linked when it is on the same file system (it can be hundreds of MB).
    What is missing is derived and said in a note:

    * boundary: the retailers' concave hull (ratio ``CONCAVE_RATIO``) buffered
      ``BOUNDARY_BUFFER_M`` metres, clipped to the street network's extent;
    * staff: ``pairs`` placeholder pairs (default retailers / ``RETAILERS_PER_PAIR``, rounded,
      at least 1), one marketing manager and one monopoly officer each, named "待分配 to assign";
    * depot: the retailers' centre (mean in a metric CRS) snapped to the nearest street node;
    * subdistricts: the extract's ``boundary=administrative`` areas of the finest level that
      covers most of the district, else one subdistrict equal to the boundary.

    Events, orders and schools are left out of ``district.toml`` (a new district has none).

    The district's road network is loaded once, as later commands load it (its prepared extract
    cached in the folder's ``cache/``); the last note says, per travel mode of the staff (every
    mode for placeholder pairs), how many shops that mode reaches and names the first it
    cannot (:func:`reach_note`; ``gridmgmt validate`` names each with the reason).

    Parameters
    ----------
    out_dir
        The district folder to create; an existing non-empty folder needs ``force``.
    retailers
        Retailer table (CSV UTF-8/GBK, GeoJSON, GeoPackage, Parquet), see
        :func:`gridmgmt.inputs.retailers.load_retailers`.
    network
        OSM extract (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``) or osmnx GraphML.
    boundary
        District polygon file; default derived from the retailers.
    pairs
        Number of placeholder staff pairs when ``staff`` is not given.
    staff
        Staff table as :func:`gridmgmt.inputs.tables.load_staff` reads it.
    depot
        One depot as ``(lon, lat)`` or ``"LON,LAT"`` in degrees of the ``coords`` system.
    depots
        Depot table (``depot_id``, ``name``, ``lon``, ``lat``) in the ``coords`` system.
    coords
        Coordinate system of the retailer table and of ``depot``/``depots``: ``wgs84``,
        ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu); recorded in ``[coords]``.
    name
        District name; default the folder's name.
    lang
        Label language of the district's maps and sheets, ``zh`` or ``en`` (``[district] lang``);
        default ``zh`` when the retailers' median position is in China (:func:`gridmgmt.coords.in_china`),
        else ``en``.
    force
        Replace an existing district folder (one with a ``district.toml``), once the new one
        is complete.

    Returns
    -------
    InitResult
        The new ``district.toml``, the files written and the notes.

    Raises
    ------
    InputError
        When the folder exists, an option is wrong or an input is unusable; nothing is written.
    """
    out = Path(out_dir)
    coords = _check_options(
        out, pairs=pairs, staff=staff, depot=depot, depots=depots, coords=coords, lang=lang, force=force
    )
    given = _validate_given(
        Path(retailers), Path(network), coords, boundary=boundary, staff=staff, depot=depot, depots=depots
    )
    real = out.resolve()  # "." or "x/..": name the work folder after the real one
    name = name or real.name
    real.parent.mkdir(parents=True, exist_ok=True)
    work = real.parent / f".{real.name}.tmp-{uuid.uuid4().hex[:8]}"
    work.mkdir()  # not tempfile.mkdtemp: the folder keeps the user's umask, not 0700
    try:
        folder = _Folder(work)
        _build(folder, given, name=name, pairs=pairs, lang=lang)
        open_store(work / "out" / "store.sqlite", create=True).close()  # its commands' store (empty until used)
        _move_into_place(work, real, force=force)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    written = tuple(out / f.relative_to(work) for f in folder.written)
    log.debug("initialised district %s in %s: %d files", name, out, len(written))
    return InitResult(district=out / "district.toml", files=written, notes=tuple(folder.notes))


# ---------------------------------------------------------------------------------- checks


def _check_options(
    out: Path,
    *,
    pairs: int | None,
    staff: str | os.PathLike | None,
    depot: tuple[float, float] | str | None,
    depots: str | os.PathLike | None,
    coords: str,
    lang: str | None,
    force: bool,
) -> str:
    """Refuse contradictory options and an occupied target folder; return the normalised ``coords``."""
    problems: list[Problem] = []
    if pairs is not None and staff is not None:
        problems.append(_option_problem("--pairs/--staff", "give either --pairs or --staff, not both"))
    if pairs is not None and pairs < 1:
        problems.append(_option_problem("--pairs", "must be at least 1", value=pairs))
    if depot is not None and depots is not None:
        problems.append(_option_problem("--depot/--depots", "give either --depot or --depots, not both"))
    system = (coords or "wgs84").lower().replace("-", "")
    if system not in COORD_SYSTEMS:
        problems.append(
            _option_problem("--coords", "unknown coordinate system", value=coords, hint="use wgs84, gcj02 or bd09")
        )
    if lang is not None and lang not in LANGS:
        problems.append(_option_problem("--lang", "unknown label language", value=lang, hint="use zh or en"))
    problems += _target_problems(out, force=force)
    if problems:
        raise InputError(problems)
    return system


def _option_problem(field: str, message: str, *, value: object = None, hint: str = "") -> Problem:
    return Problem(file=COMMAND_LINE, field=field, value=value, message=message, hint=hint)


def _target_problems(out: Path, *, force: bool) -> list[Problem]:
    """An existing file, a non-empty folder without ``force``, or one ``force`` must not delete."""
    file = str(out)
    if not out.exists():
        return []
    if not out.is_dir():
        return [Problem(file=file, message="exists and is not a folder", hint="choose a new folder name")]
    if not any(out.iterdir()):
        return []
    if not force:
        return [
            Problem(
                file=file,
                message="the folder exists and is not empty",
                hint="choose a new folder, or pass --force to replace the district in it",
            )
        ]
    if not (out / "district.toml").exists():
        return [
            Problem(
                file=file,
                message="--force replaces only a district folder (one with a district.toml), and this has none",
                hint="choose a new folder, or empty this one yourself",
            )
        ]
    cwd = Path.cwd().resolve()
    if out.resolve() == cwd or out.resolve() in cwd.parents:
        return [
            Problem(
                file=file,
                message="--force would replace the folder you are working in",
                hint="run gridmgmt init from outside it",
            )
        ]
    return []


def _check_network_file(path: Path) -> None:
    file = str(path)
    if not path.is_file():
        raise InputError(
            Problem(
                file=file,
                message="road network file not found",
                hint="pass an OSM extract (.osm, .osm.gz, .osm.bz2, .osm.pbf) or osmnx .graphml",
            )
        )
    if not network_suffix(path):
        raise InputError(
            Problem(
                file=file,
                message="unsupported road network format",
                value=path.suffix,
                hint=f"use one of {', '.join(NETWORK_SUFFIXES)} (e.g. a Geofabrik .osm.pbf extract)",
            )
        )


def _table_suffix(path: Path) -> str:
    """``.csv``, ``.csv.gz``, ``.geojson``...: the last suffix, with the one before a compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED:
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


# ---------------------------------------------------------------------------------- inputs given


@dataclass
class _Given:
    """The inputs the user gave, validated (frames in WGS-84)."""

    retailers: Path
    shops: gpd.GeoDataFrame
    network: Path
    coords: str
    boundary: Path | None = None
    boundary_frame: gpd.GeoDataFrame | None = None
    depot: tuple[float, float] | None = None  # degrees in the ``coords`` system, as given
    depots: Path | None = None
    depot_frame: gpd.GeoDataFrame | None = None
    staff: Path | None = None
    staff_frame: pd.DataFrame | None = None


def _validate_given(
    retailers: Path,
    network: Path,
    coords: str,
    *,
    boundary: str | os.PathLike | None,
    staff: str | os.PathLike | None,
    depot: tuple[float, float] | str | None,
    depots: str | os.PathLike | None,
) -> _Given:
    """Check every input the user gave, before any slower derivation; raise the usual problems."""
    _check_network_file(network)
    given = _Given(retailers=retailers, shops=gpd.GeoDataFrame(), network=network, coords=coords)
    if boundary is not None:
        given.boundary = Path(boundary)
        given.boundary_frame = load_boundary(given.boundary)
    given.shops = load_retailers(retailers, coords=coords, boundary=given.boundary_frame)
    if len(given.shops) == 0:
        raise InputError(Problem(file=str(retailers), message="the retailer table has no rows"))
    if depots is not None:
        given.depots = Path(depots)
        given.depot_frame = load_depots(given.depots, coords=coords)
    elif depot is not None:
        given.depot = parse_lonlat(depot) if isinstance(depot, str) else (float(depot[0]), float(depot[1]))
        frame = depot_table(*given.depot)
        given.depot_frame, problems = check_depots(frame, file=COMMAND_LINE, coords=coords)
        value = f"{given.depot[0]},{given.depot[1]}"
        errors = [
            _option_problem("--depot", p.message, value=value, hint=p.hint) for p in problems if p.severity == "error"
        ]
        if errors:
            raise InputError(errors)
    if staff is not None:
        given.staff = Path(staff)
        given.staff_frame = load_staff(given.staff, depot_ids=set(_depot_ids(given)))
        if len(given.staff_frame) == 0:
            raise InputError(Problem(file=str(staff), message="the staff table has no rows"))
    return given


def _depot_ids(given: _Given) -> list[str]:
    return list(given.depot_frame["depot_id"].astype(str)) if given.depot_frame is not None else ["D1"]


def parse_lonlat(text: str) -> tuple[float, float]:
    """``"116.3102,39.9921"`` -> ``(116.3102, 39.9921)`` (degrees).

    Raises
    ------
    InputError
        When the text is not two numbers separated by a comma.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(
            _option_problem("--depot", "not a position", value=text, hint="write LON,LAT in degrees, e.g. 116.31,39.99")
        ) from None


# ---------------------------------------------------------------------------------- building


@dataclass
class _Folder:
    """The district folder being built: files written, ``[files]`` and ``[coords]`` entries, notes."""

    work: Path
    files: dict[str, str] = field(default_factory=dict)
    coords: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def add(self, key: str, target: Path, note: str) -> None:
        """Record ``target`` as ``files.<key>`` and say ``key: note -> file name``."""
        self.files[key] = target.name
        self.written.append(target)
        self.notes.append(f"{key}: {note} -> {target.name}")

    def copy(self, key: str, source: Path, suffix: str) -> Path:
        """Copy ``source`` into the folder as ``<key><suffix>``."""
        target = self.work / f"{key}{suffix}"
        shutil.copy2(source, target)
        return target


def _build(folder: _Folder, given: _Given, *, name: str, pairs: int | None, lang: str | None = None) -> None:
    """Write every input of the district into ``folder``, ``district.toml`` last."""
    shops = given.shops
    target = folder.copy("retailers", given.retailers, _table_suffix(given.retailers))
    label = {"gcj02": "GCJ-02", "bd09": "BD-09"}.get(given.coords)
    converted = f" ({label}, converted to WGS-84 on load)" if label else ""
    folder.add("retailers", target, f"{len(shops):,} from {given.retailers.name}{converted}")
    folder.coords["retailers"] = given.coords

    target = folder.work / f"roads{network_suffix(given.network)}"
    how = _link_or_copy(given.network, target)
    folder.add("network", target, f"{given.network.name} {how}")

    if given.boundary is not None and given.boundary_frame is not None:
        boundary = given.boundary_frame
        area = f"{_area_km2(boundary):.1f} km²"
        if _table_suffix(given.boundary) in _VECTOR_COPY_SUFFIXES:
            target = folder.copy("boundary", given.boundary, _table_suffix(given.boundary))
            folder.add("boundary", target, f"from {given.boundary.name} ({area})")
        else:
            target = io.write_vector(boundary, folder.work / "boundary.geojson")
            folder.add("boundary", target, f"from {given.boundary.name}, converted to GeoJSON ({area})")
    else:
        boundary, note = derive_boundary(shops, given.network, name=name, file=str(given.retailers))
        target = io.write_vector(boundary, folder.work / "boundary.geojson")
        folder.add("boundary", target, f"{note}; replace it with the official boundary when you can")

    subs, note = derive_subdistricts(boundary, given.network, name=name)
    folder.add("subdistricts", io.write_vector(subs, folder.work / "subdistricts.geojson"), note)
    graph = _district_graph(folder)

    if given.depots is not None and given.depot_frame is not None:
        target = folder.copy("depots", given.depots, _table_suffix(given.depots))
        folder.add("depots", target, f"{len(given.depot_frame):,} from {given.depots.name}")
        folder.coords["depots"] = given.coords
    elif given.depot is not None:
        target = io.write_csv(depot_table(*given.depot), folder.work / "depots.csv")
        folder.add("depots", target, f"D1 at {given.depot[0]}, {given.depot[1]} from --depot")
        folder.coords["depots"] = given.coords
    else:
        table, note = derive_depot(shops, graph)
        target = io.write_csv(table, folder.work / "depots.csv")
        folder.add("depots", target, f"{note}; give the bureau's own with --depot LON,LAT")
        folder.coords["depots"] = "wgs84"

    if given.staff is not None and given.staff_frame is not None:
        count = _pairs_in(given.staff_frame)
        target = folder.copy("staff", given.staff, _table_suffix(given.staff))
        folder.add("staff", target, f"{len(given.staff_frame)} from {given.staff.name}, {count} full pairs")
    else:
        count = pairs if pairs is not None else default_pairs(len(shops))
        why = "from --pairs" if pairs is not None else f"{len(shops):,} retailers / {RETAILERS_PER_PAIR} per pair"
        target = io.write_csv(placeholder_staff(count, depot=_depot_ids(given)[0]), folder.work / "staff.csv")
        plural = "s" if count != 1 else ""
        folder.add("staff", target, f"{count} placeholder pair{plural} ({why}) named '{PLACEHOLDER}'")
        folder.notes[-1] += "; put in real names and travel modes before planning routes"
    folder.notes.append(
        "events, orders, schools: none yet, left out of district.toml; add them under [files] when you have them"
    )

    lang, note = district_lang(shops, lang)
    folder.notes.append(note)
    toml = folder.work / "district.toml"
    io.write_text(district_toml(name, folder.files, folder.coords, grids=count, lang=lang, notes=folder.notes), toml)
    folder.written.append(toml)
    load_settings(toml)  # what we wrote must read back
    folder.notes.append(reach_note(graph, shops, given.staff_frame))


def _district_graph(folder: _Folder) -> nx.MultiDiGraph:
    """The district's road network as every later command loads it: its boundary file, default settings.

    The prepared extract is cached in the district's own ``cache/`` (never the user's cache
    folder) under the key later commands compute, so the first of them does not prepare it again.
    """
    files = Files(network=folder.files["network"], boundary=folder.files["boundary"])
    settings = Settings(root=folder.work, files=files)
    return district_network(settings, load_boundary(settings.path("boundary")))


#: Unreachable shops named per mode in init's report (``gridmgmt validate`` names them all).
REACH_NAMED = 3


def reach_note(graph: nx.MultiDiGraph, retailers: gpd.GeoDataFrame, staff: pd.DataFrame | None) -> str:
    """One line: per travel mode of the staff (every mode for placeholders), how many shops it reaches.

    E.g. ``reachable: walk 508/508, ebike 503/508 (5 unreachable: OSM1 fast_food, ...; see gridmgmt
    validate)``; :func:`gridmgmt.ops.network_checks.unreachable_shops` says which and why.
    """
    shops = pd.DataFrame(
        {"retailer_id": retailers["retailer_id"].astype(str).to_numpy(), "lon": retailers.geometry.x.to_numpy(),
         "lat": retailers.geometry.y.to_numpy(),
         "name": retailers["name"].astype(str).to_numpy() if "name" in retailers else ""}
    )  # fmt: skip
    modes = staff_modes(staff)
    lost = unreachable_shops(graph, shops, modes)
    total = lost.attrs["checked"]
    parts = []
    for mode in modes:
        mine = lost.loc[lost["mode"] == mode]
        text = f"{mode} {total - len(mine)}/{total}"
        if len(mine):
            named = ", ".join(f"{r.retailer_id} {r.name}".strip() for r in mine.head(REACH_NAMED).itertuples())
            more = f", {len(mine) - REACH_NAMED} more" if len(mine) > REACH_NAMED else ""
            text += f" ({len(mine)} unreachable: {named}{more})"
        parts.append(text)
    whose = "of the staff" if staff is not None else "(every mode: the placeholder pairs have none set yet)"
    line = f"reachable shops by travel mode {whose}: {', '.join(parts)}"
    if len(lost):
        line += "; `gridmgmt validate` says why and what to do"
    return line


def _link_or_copy(source: Path, target: Path) -> str:
    """Hard-link ``source`` to ``target`` (same file system), else copy it; say which."""
    try:
        os.link(source, target)
        return "(hard link: the same file, no extra space)"
    except OSError:
        shutil.copy2(source, target)
        return "(copied)"


def _area_km2(frame: gpd.GeoDataFrame) -> float:
    return float(frame.to_crs(metric_crs(frame)).area.sum() / 1e6)


def _pairs_in(staff: pd.DataFrame) -> int:
    counts = staff["department"].value_counts()
    return max(1, min(int(counts.get("marketing", 0)), int(counts.get("monopoly", 0))))


def district_lang(retailers: gpd.GeoDataFrame, lang: str | None = None) -> tuple[str, str]:
    """The district's label language and a note saying why: ``lang`` when given, else where the retailers are.

    ``zh`` when the retailers' median position (WGS-84) lies in China (the coarse outline of
    :func:`gridmgmt.coords.in_china`), else ``en``: a position, not tags, since few extracts carry
    ``addr:country`` and a clipped one rarely holds its country's boundary.
    """
    if lang is not None:
        return lang, f"lang: {lang} (labels of maps and sheets) from --lang"
    lon, lat = float(np.median(retailers["lon"])), float(np.median(retailers["lat"]))
    inside = bool(in_china(lon, lat))
    lang, other = ("zh", "en") if inside else ("en", "zh")
    where = "in China" if inside else "outside China"
    return lang, (
        f"lang: {lang} (labels of maps and sheets), the retailers are {where} ({lon:.4f}, {lat:.4f}); "
        f"change [district] lang, or pass --lang {other} to a map command"
    )


def district_toml(
    name: str,
    files: dict[str, str],
    coords: dict[str, str],
    *,
    grids: int,
    lang: str = "zh",
    notes: list[str] | None = None,
) -> str:
    """The text of a ``district.toml``: name, ``[district] lang``, ``[files]``, ``[coords]``, ``[grids] count``.

    ``notes`` become comment lines at the top, so the folder says how it was made.
    """
    lines = [f"# Written by `gridmgmt init` on {date.today().isoformat()}."]
    lines += [f"#   {note}" for note in notes or []]
    lines += ["# Every other setting has the default of gridmgmt/config.py; state here only what differs.", ""]
    lines += [f"name = {_toml_string(name)}", "", "[district]", f"lang = {_toml_string(lang)}", "", "[files]"]
    lines += [f"{key} = {_toml_string(value)}" for key, value in files.items()]
    lines += ["", "[coords]"]
    lines += [f"{key} = {_toml_string(value)}" for key, value in coords.items()]
    lines += ["", "[grids]", f"count = {int(grids)}", ""]
    return "\n".join(lines)


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; non-ASCII kept readable)."""
    return json.dumps(str(text), ensure_ascii=False)


def _move_into_place(work: Path, out: Path, *, force: bool) -> None:
    """Rename the finished ``work`` folder to ``out``; an old ``out`` is removed only afterwards."""
    problems = _target_problems(out, force=force)  # it may have changed while we worked
    if problems:
        raise InputError(problems)
    old: Path | None = None
    if out.exists():
        if any(out.iterdir()):
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
        else:
            out.rmdir()
    try:
        work.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------- derived inputs


def default_pairs(n_retailers: int) -> int:
    """Staff pairs for ``n_retailers``: one per ``RETAILERS_PER_PAIR`` retailers, rounded half up, at least 1."""
    return max(1, math.floor(n_retailers / RETAILERS_PER_PAIR + 0.5))


def placeholder_staff(pairs: int, *, depot: str = "D1") -> pd.DataFrame:
    """``pairs`` marketing + monopoly placeholder pairs (M01/Z01, ...), by e-bike from ``depot``.

    ``grid_id`` is blank (``grids build`` assigns pairs to grids in staff_id order) and so are
    the shift times (the district.toml ``[shift]`` applies).
    """
    width = max(2, len(str(pairs)))
    rows = []
    for prefix, department in (("M", "marketing"), ("Z", "monopoly")):
        for i in range(1, pairs + 1):
            staff_id = f"{prefix}{i:0{width}d}"
            rows.append((staff_id, f"{PLACEHOLDER} {staff_id}", department, "", depot, "ebike", "", ""))
    return pd.DataFrame(rows, columns=list(_STAFF_COLUMNS))
