"""Travel modes on the street graph: which streets each may use, car speeds, edge attribute names.

E-bikes are non-motor vehicles in China: not on motorways, but on cycleways and tracks; people
on foot use everything but motorways and cycleways (as osmnx's "walk" network does).
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
#: Highway types each travel mode may use.
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
