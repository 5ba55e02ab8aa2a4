"""Travel modes on the street graph: which streets each may use, car speeds, edge attribute names.

E-bikes are ridden like bicycles (non-motor vehicles in China): not on motorways, but on
cycleways and tracks, and pushed along footways; people on foot use everything but motorways
and cycleways (as osmnx's "walk" network does). Access tags refine this per street: see
:mod:`gridmgmt.network.access`.
"""

from __future__ import annotations

from dataclasses import asdict

import networkx as nx

from gridmgmt.config import TRAVEL_MODES, Speeds

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
_WALK = (_DRIVE - {"motorway", "motorway_link"}) | {"pedestrian", "footway", "path", "steps", "track"}
_RIDE = (_DRIVE - {"motorway", "motorway_link"}) | {"cycleway", "track", "path"}

#: Highway classes each travel mode may use where no access tag says otherwise, per country
#: preset (``walk``: on foot; ``ebike``: riding; ``car``: driving). An e-bike is pushed at
#: walking speed where it may not be ridden but people may walk (footways, pedestrian
#: streets, steps), as OSRM's bicycle profile does. ``default`` follows OSM's worldwide
#: defaults and OSRM's profiles; ``cn`` adds that Chinese ``trunk`` roads are urban
#: expressways (快速路) closed to non-motor vehicles (e-bikes) and pedestrians.
ACCESS_PRESETS: dict[str, dict[str, frozenset[str]]] = {
    "default": {"walk": _WALK, "ebike": _RIDE, "car": _DRIVE},
    "cn": {
        "walk": _WALK - {"trunk", "trunk_link"},
        "ebike": _RIDE - {"trunk", "trunk_link"},
        "car": _DRIVE,
    },
}
#: Highway types each travel mode may use by default (the ``default`` preset; e-bikes riding).
MODE_HIGHWAYS: dict[str, frozenset[str]] = ACCESS_PRESETS["default"]
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
#: Car speed (km/h) of a street whose highway type has no default either.
FALLBACK_CAR_KMH = 20.0


def check_mode(mode: str) -> None:
    """Raise ``ValueError`` naming the valid travel modes unless ``mode`` is one of them."""
    if mode not in TRAVEL_MODES:
        raise ValueError(f"unknown travel mode {mode!r}; use one of {', '.join(TRAVEL_MODES)}")


def time_attr(mode: str) -> str:
    """Name of the edge attribute holding a mode's travel time in seconds, e.g. ``time_s_car``."""
    check_mode(mode)
    return f"time_s_{mode}"


def back_attr(mode: str) -> str:
    """Edge attribute of a mode's time (s) against the edge's direction, e.g. ``time_s_car_back``.

    Set on edges without a reverse twin (one-way streets): ``inf`` unless the mode may travel
    the street backwards too (walking, or an e-bike pushed or allowed by ``oneway:bicycle=no``).
    """
    return time_attr(mode) + "_back"


def weight_attr(mode: str, weight: str) -> str:
    """Edge attribute of a routing weight: the mode's time (s) for ``"time"``, ``length`` (m) for ``"length"``.

    Raises
    ------
    ValueError
        If ``weight`` is neither ``"time"`` nor ``"length"``, or ``mode`` is unknown.
    """
    if weight == "time":
        return time_attr(mode)
    if weight == "length":
        return "length"
    raise ValueError(f"weight must be 'time' or 'length', not {weight!r}")


def mode_kmh(graph: nx.MultiDiGraph, mode: str) -> float:
    """Constant speed of ``mode`` (km/h) the graph was built with (``Speeds`` defaults where unrecorded)."""
    speeds = {**asdict(Speeds()), **(graph.graph.get("speeds") or {})}
    return float(speeds[f"{mode}_kmh"])
