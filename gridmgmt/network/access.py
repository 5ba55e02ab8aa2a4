"""Per-mode access from OSM tags: which street each travel mode may use, in which direction, and how.

The rules follow OSRM's car, bicycle and foot profiles (written anew here, not copied):

- **Tag hierarchy, most specific wins.** Walking: ``access`` < ``foot``; e-bike: ``access`` <
  ``vehicle`` < ``bicycle`` < ``electric_bicycle``; car: ``access`` < ``vehicle`` <
  ``motor_vehicle`` < ``motorcar``. Values in ``REFUSE`` (``no``, ``private``, ``agricultural``,
  ``forestry``, ``delivery``, ...) close the street to the mode; values in ``ALLOW`` (``yes``,
  ``designated``, ``permissive``, ``destination``, ...) open it, except that the generic
  ``access`` key alone never opens a class the mode may not use (``access=yes`` on a footway
  does not let cars in). Other values (``unknown``, ``discouraged``) are ignored.
- **Highway class defaults** by country preset: ``modes.ACCESS_PRESETS`` (``default``, ``cn``).
  ``motorroad=yes`` closes a street to walking and e-bikes.
- **One-way**: ``oneway=yes|true|1|-1|reverse`` and ``junction=roundabout`` bind cars and e-bikes
  (``motorway`` is one-way for cars even untagged); ``oneway:bicycle=no`` and
  ``cycleway[:left|:right]=opposite*`` let e-bikes ride both ways; walking ignores ``oneway``
  and obeys only ``oneway:foot``.
- **Pushing** (OSRM's ``pushing_bike``): where an e-bike may not be ridden but people may walk
  (footways, pedestrian streets, steps, ``bicycle=dismount``, against a one-way street but not a
  roundabout or motorway) it is pushed at walking speed, unless a tag of its hierarchy refuses
  it (``bicycle=no``: the squad locks the bike and walks, see :mod:`gridmgmt.network.reach`).

Each directed edge gets a ``travel`` code: two characters per mode in ``TRAVEL_MODES`` order
(walk, ebike, car), how the mode may travel the edge along its direction and against it:
``-`` not at all, ``w`` walking, ``r`` riding (e-bike), ``p`` pushing (e-bike at walking speed),
``d`` driving. Against-direction characters are only used on edges without a reverse twin
(osmnx adds one edge per direction for two-way streets and one edge for one-way streets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from gridmgmt.config import TRAVEL_MODES
from gridmgmt.network.modes import ACCESS_PRESETS

#: Access values that close a street to a mode (OSRM's blacklists, plus transit-only values).
REFUSE = frozenset(
    {"no", "private", "agricultural", "forestry", "delivery", "customers", "emergency", "psv", "bus", "military"}
    | {"use_sidepath"}  # cyclists must use the parallel cycleway
)
#: Access values that open a street to a mode (``destination``: the squads have one there).
ALLOW = frozenset({"yes", "designated", "permissive", "destination", "public", "official"})
#: Access keys per mode, general to specific: the most specific key with a known value wins.
HIERARCHY: dict[str, tuple[str, ...]] = {
    "walk": ("access", "foot"),
    "ebike": ("access", "vehicle", "bicycle", "electric_bicycle"),
    "car": ("access", "vehicle", "motor_vehicle", "motorcar"),
}
#: Way tags the access rules read; ``load_network`` makes osmnx keep them on the edges.
ACCESS_TAGS: tuple[str, ...] = (
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "bicycle",
    "electric_bicycle",
    "foot",
    "oneway",
    "oneway:bicycle",
    "oneway:foot",
    "junction",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
    "motorroad",
    "highway",
)
#: Name of the edge attribute holding the travel code (see the module docstring).
TRAVEL_ATTR = "travel"

NONE, WALK, RIDE, PUSH, DRIVE = "-", "w", "r", "p", "d"
_RANK = {NONE: 0, PUSH: 1, WALK: 2, RIDE: 2, DRIVE: 2}  # weaker first, when parts of a merged edge differ
_YES = frozenset({"yes", "true", "1"})
_NO = frozenset({"no", "false", "0"})
_REVERSE = frozenset({"-1", "reverse"})
_OPPOSITE = frozenset({"opposite", "opposite_lane", "opposite_track"})


def check_preset(preset: str) -> None:
    """Raise ``ValueError`` naming the presets unless ``preset`` is one of ``ACCESS_PRESETS``."""
    if preset not in ACCESS_PRESETS:
        raise ValueError(f"unknown access preset {preset!r}; use one of {', '.join(ACCESS_PRESETS)}")


def _verdict(tags: Mapping[str, Any], mode: str) -> tuple[str, bool] | None:
    """``(key, allowed)`` of the most specific access key of ``mode`` with a known value, or None."""
    found = None
    for key in HIERARCHY[mode]:
        value = tags.get(key)
        if value in ALLOW:
            found = (key, True)
        elif value in REFUSE:
            found = (key, False)
    return found


def _allowed(tags: Mapping[str, Any], mode: str, classes: frozenset[str]) -> tuple[bool, bool]:
    """(may use the street, refused by a tag): class default refined by the tag hierarchy."""
    highway = tags.get("highway")
    default = highway in classes and not (mode != "car" and tags.get("motorroad") == "yes")
    verdict = _verdict(tags, mode)
    if verdict is None:
        return default, False
    key, allowed = verdict
    if not allowed:
        return False, True
    return (default if key == "access" else True), False


def _one_direction(value: Any, flipped: bool) -> str | None:
    """Which way (``"f"``/``"b"`` in edge terms) a ``oneway[:x]`` value allows; ``"both"``; None if unset."""
    if value is None:
        return None
    value = str(value).lower()
    if value in _NO:
        return "both"
    if value in _YES:
        return "b" if flipped else "f"
    if value in _REVERSE:
        return "f" if flipped else "b"
    return None


def way_access(tags: Mapping[str, Any], preset: str = "default") -> dict[str, tuple[str, str]]:
    """How each travel mode may travel a way: ``{mode: (forward, backward)}`` with the codes above.

    Parameters
    ----------
    tags
        The way's OSM tags (scalar values). ``oneway`` may be a bool as osmnx stores it: True
        means the way is one-way and "forward" is its allowed direction.
    preset
        Highway class defaults, a key of ``modes.ACCESS_PRESETS``.

    Returns
    -------
    dict
        Per mode a pair of one-character codes: forward is the way's node order, or for a
        one-way way its allowed direction (``oneway=-1`` included); backward the other way.
    """
    classes = ACCESS_PRESETS[preset]
    oneway = tags.get("oneway")
    flipped = False
    if isinstance(oneway, bool):
        general = oneway
    else:
        value = str(oneway).lower() if oneway is not None else ""
        general = value in _YES or value in _REVERSE
        flipped = value in _REVERSE  # osmnx turns these ways round: forward = allowed direction
    implied = tags.get("junction") in ("roundabout", "circular")
    car_oneway = general or implied or (tags.get("highway") == "motorway" and str(oneway).lower() not in _NO)

    walk_ok, _ = _allowed(tags, "walk", classes["walk"])
    foot_dir = _one_direction(tags.get("oneway:foot"), flipped)
    walk = (
        WALK if walk_ok and foot_dir != "b" else NONE,
        WALK if walk_ok and foot_dir != "f" else NONE,
    )

    car_ok, _ = _allowed(tags, "car", classes["car"])
    car = (DRIVE if car_ok else NONE, DRIVE if car_ok and not car_oneway else NONE)

    ride_ok, refused = _allowed(tags, "ebike", classes["ebike"])
    if tags.get("bicycle") == "dismount":
        ride_ok, refused = False, False
    bike_dir = _one_direction(tags.get("oneway:bicycle"), flipped)
    if bike_dir is None:
        opposite = any(tags.get(k) in _OPPOSITE for k in ("cycleway", "cycleway:left", "cycleway:right"))
        bike_dir = "both" if opposite or not (general or implied) else "f"
    ride = (ride_ok and bike_dir != "b", ride_ok and bike_dir != "f")
    push_back_ok = not (implied or tags.get("highway") == "motorway")
    ebike = tuple(
        RIDE if ride[i] else PUSH if not refused and walk[i] == WALK and (i == 0 or push_back_ok) else NONE
        for i in (0, 1)
    )
    return {"walk": walk, "ebike": ebike, "car": car}  # type: ignore[dict-item]


def _variants(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scalar tag sets of an edge: one, or one per part of an edge merged from ways with different tags."""
    lists = {k: data[k] for k in ACCESS_TAGS if isinstance(data.get(k), list)}
    if not lists:
        return [{k: data.get(k) for k in ACCESS_TAGS}]
    n = max(len(v) for v in lists.values())
    out = []
    for i in range(n):
        tags = {k: data.get(k) for k in ACCESS_TAGS}
        tags.update({k: v[min(i, len(v) - 1)] for k, v in lists.items()})
        out.append(tags)
    return out


def edge_travel(data: Mapping[str, Any], preset: str = "default") -> str:
    """The ``travel`` code of one directed osmnx edge (see the module docstring).

    Uses the edge's tags, ``oneway`` (True: osmnx made one edge, in the allowed direction)
    and ``reversed`` (True: the reverse twin of a two-way way). An edge merged from ways
    with different tags gets, per mode and direction, the weakest of its parts.
    """
    reverse = data.get("reversed", False)
    reverse = bool(reverse[0] if isinstance(reverse, list) else reverse)
    oneway_edge = data.get("oneway", False)
    oneway_edge = bool(any(oneway_edge) if isinstance(oneway_edge, list) else oneway_edge)
    code = ""
    parts = [way_access(tags, preset) for tags in _variants(data)]
    for mode in TRAVEL_MODES:
        fwd = min((p[mode][1 if reverse else 0] for p in parts), key=_RANK.__getitem__)
        back = min((p[mode][0 if reverse else 1] for p in parts), key=_RANK.__getitem__) if oneway_edge else NONE
        code += fwd + back
    return code


def set_travel_codes(graph: nx.MultiDiGraph, preset: str = "default") -> None:
    """Set the ``travel`` code of every edge from its tags, in place (ways share one evaluation)."""
    check_preset(preset)
    memo: dict[Any, str] = {}
    for _, _, data in graph.edges(data=True):
        osmid = data.get("osmid")
        key = (osmid, data.get("reversed"), data.get("oneway")) if isinstance(osmid, int | str) else None
        if key is None or key not in memo:
            code = edge_travel(data, preset)
            if key is None:
                data[TRAVEL_ATTR] = code
                continue
            memo[key] = code
        data[TRAVEL_ATTR] = memo[key]


def keeps_way(tags: Mapping[str, Any]) -> bool:
    """Whether an extract keeps a street way: not ``access=no`` unless a mode-specific key allows a mode."""
    if tags.get("access") != "no":
        return True
    return any(tags.get(key) in ALLOW for mode in TRAVEL_MODES for key in HIERARCHY[mode][1:])
