"""district.toml -> typed settings with units, validated on load.

Every number has its unit in its key (``_min``, ``_m``, ``_kmh``, ``_days``). Every
section has defaults, so a district.toml only states what differs; an unknown key or a
value of the wrong kind is an error naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridmgmt._errors import ConfigError, Problem
from gridmgmt.vocab import LANGS

BUSINESS_TYPES = ("grocery", "convenience", "supermarket", "mall", "tobacco_liquor", "entertainment", "other")
CUSTOMER_CLASSES = ("AAA", "AA", "A", "B", "C", "D")
TRAVEL_MODES = ("walk", "ebike", "car")

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def minutes_of_day(hhmm: str) -> int:
    """``"08:30"`` -> 510 (minutes after midnight)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class DistrictInfo:
    """``[district]``: ``lang``, the label language of the district's maps and sheets (``zh`` or ``en``).

    ``gridmgmt init`` sets it from where the retailers are (``zh`` in China, ``en`` elsewhere);
    ``--lang`` on a map or sheet command overrides it for one run. A district.toml without it
    (e.g. the demo) is ``zh``.
    """

    lang: str = "zh"


@dataclass(frozen=True)
class Files:
    """Input files of a district, relative to district.toml's folder.

    Retailers, network and boundary are required; staff and depots name the bureau's people and
    bases. The rest is optional: an empty name (the default) means the district has no such file
    yet, and every command works without it (no history, no orders, no schools, one subdistrict).
    """

    boundary: str = "boundary.geojson"
    subdistricts: str = ""
    network: str = "roads.osm"
    retailers: str = "retailers.csv"
    events: str = ""
    orders: str = ""
    staff: str = "staff.csv"
    depots: str = "depots.csv"
    schools: str = ""
    ground_truth: str = ""  # demo only: the hidden risk process, for scoring models


@dataclass(frozen=True)
class Coords:
    """Coordinate system of the input tables: wgs84, gcj02 or bd09."""

    retailers: str = "wgs84"
    depots: str = "wgs84"
    schools: str = "wgs84"


@dataclass(frozen=True)
class Network:
    """How the road network is read from an OSM extract.

    ``street_classes``: which OSM highway classes are streets (route and bound street blocks):
    ``default`` keeps every class a walker, e-bike or car may use; ``cn`` drops cycleways
    mapped beside arterials, paths and steps (Chinese city centres); ``eu`` drops tracks and
    cycleways (European centres). ``buffer_m``: streets within this distance outside the
    boundary are kept, so routes may leave the district briefly.
    """

    street_classes: str = "default"
    buffer_m: float = 1000.0


@dataclass(frozen=True)
class Grids:
    count: int = 12
    balance_tolerance: float = 1.02  # max/min workload on the planning estimate
    routed_tolerance: float = 1.05  # max/min with travel from routed tours
    working_days_per_month: float = 21.75
    seed: int = 0


@dataclass(frozen=True)
class Shift:
    start: str = "08:30"
    end: str = "17:30"
    lunch_earliest: str = "11:30"
    lunch_latest: str = "13:30"
    lunch_min: int = 60


@dataclass(frozen=True)
class Speeds:
    """Travel speeds, km/h. ``car`` is a cap: a street's own maxspeed wins where lower."""

    walk_kmh: float = 4.5
    ebike_kmh: float = 15.0
    car_kmh: float = 30.0
    far_snap_m: float = 150.0  # warn about retailers farther than this from any street


def _by_business(**overrides: float) -> dict[str, float]:
    base = {
        "grocery": 12.0,
        "convenience": 12.0,
        "supermarket": 20.0,
        "mall": 30.0,
        "tobacco_liquor": 18.0,
        "entertainment": 20.0,
        "other": 12.0,
    }
    base.update(overrides)
    return base


@dataclass(frozen=True)
class ServiceMinutes:
    """Minutes on site per visit, by visit type and business type."""

    inspection: dict[str, float] = field(default_factory=_by_business)
    marketing: dict[str, float] = field(default_factory=lambda: _by_business(grocery=10, convenience=10, other=10))
    joint: dict[str, float] = field(
        default_factory=lambda: _by_business(
            grocery=20, convenience=20, supermarket=30, mall=45, tobacco_liquor=25, entertainment=30, other=20
        )
    )


@dataclass(frozen=True)
class VisitsPerMonth:
    """Routine visits per retailer per month: marketing by customer class, monopoly by risk level."""

    marketing: dict[str, float] = field(
        default_factory=lambda: {"AAA": 4.0, "AA": 2.0, "A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}
    )
    monopoly: dict[str, float] = field(default_factory=lambda: {"high": 2.0, "medium": 1.0, "low": 0.5})


@dataclass(frozen=True)
class InspectionCycleDays:
    """Longest allowed gap between routine inspections, days: by risk level, shortened by class."""

    by_risk: dict[str, int] = field(default_factory=lambda: {"high": 14, "medium": 30, "low": 60})
    by_class: dict[str, int] = field(default_factory=lambda: {"B": 30, "C": 21, "D": 14})


@dataclass(frozen=True)
class DeadlinesWorkingDays:
    """Response deadline of a task opened by an event, in working days."""

    tip_off: int = 2
    complaint: int = 3
    marketing_report: int = 5


@dataclass(frozen=True)
class RiskWeights:
    """Points each component adds to the 0-100 risk score, and its scales."""

    violation: float = 30.0
    tip_off: float = 12.0
    complaint: float = 6.0
    marketing_report: float = 8.0
    order_anomaly: float = 12.0
    near_repeat: float = 10.0
    school: float = 6.0
    credit_class: float = 8.0
    violation_half_life_days: float = 180.0
    report_half_life_days: float = 90.0
    near_repeat_radius_m: float = 300.0
    near_repeat_days: float = 90.0
    school_radius_m: float = 100.0
    high_min_score: float = 20.0  # points; about the top 4% on the demo
    medium_min_score: float = 8.0  # points; about the top 20% on the demo


@dataclass(frozen=True)
class Settings:
    """Everything district.toml says, with defaults; ``root`` is its folder."""

    name: str = "district"
    history_end: str = ""
    root: Path = Path(".")
    file: str = ""  # the district.toml these settings were read from (absolute path)
    district: DistrictInfo = field(default_factory=DistrictInfo)
    files: Files = field(default_factory=Files)
    coords: Coords = field(default_factory=Coords)
    network: Network = field(default_factory=Network)
    grids: Grids = field(default_factory=Grids)
    shift: Shift = field(default_factory=Shift)
    speeds: Speeds = field(default_factory=Speeds)
    service_min: ServiceMinutes = field(default_factory=ServiceMinutes)
    visits_per_month: VisitsPerMonth = field(default_factory=VisitsPerMonth)
    inspection_cycle_days: InspectionCycleDays = field(default_factory=InspectionCycleDays)
    deadlines_working_days: DeadlinesWorkingDays = field(default_factory=DeadlinesWorkingDays)
    risk_weights: RiskWeights = field(default_factory=RiskWeights)

    def path(self, key: str) -> Path:
        """Absolute path of the input file ``files.<key>``."""
        name = getattr(self.files, key)
        return (self.root / name) if name else Path()


_SECTIONS: dict[str, type] = {f.name: f.type for f in dataclasses.fields(Settings)}  # type: ignore[misc]


def _build(cls: type, data: dict[str, Any], file: str, prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in fields or key in ("root", "file"):
            raise ConfigError(
                Problem(
                    file=file,
                    field=where,
                    message="unknown setting",
                    hint=f"known settings here: {', '.join(k for k in fields if k != 'root')}",
                )
            )
        factory = fields[key].default_factory  # dataclasses.MISSING (not callable) when there is none
        default = factory() if callable(factory) else fields[key].default
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(Problem(file=file, field=where, value=value, message="expected a [section]"))
            kwargs[key] = _build(type(default), value, file, where + ".")
        elif isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(Problem(file=file, field=where, value=value, message="expected a table of numbers"))
            merged = dict(default)
            for k, v in value.items():
                if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
                    raise ConfigError(
                        Problem(file=file, field=f"{where}.{k}", value=v, message="expected a number >= 0")
                    )
                merged[k] = v
            kwargs[key] = merged
        else:
            kwargs[key] = _check_scalar(default, value, file, where)
    return cls(**kwargs)


def _check_scalar(default: Any, value: Any, file: str, where: str) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and value < 0:
            raise ConfigError(Problem(file=file, field=where, value=value, message="must not be negative"))
        value = type(default)(value) if ok and not (isinstance(default, int) and value != int(value)) else value
    else:
        ok = isinstance(value, str)
        is_time = where.startswith("shift.") and re.search(r"(start|end|earliest|latest)$", where)  # not history_end
        if ok and is_time and not _HHMM.match(value):
            raise ConfigError(
                Problem(
                    file=file, field=where, value=value, message="not a time of day", hint="write HH:MM, e.g. 08:30"
                )
            )
    if not ok:
        raise ConfigError(Problem(file=file, field=where, value=value, message=f"expected a {type(default).__name__}"))
    return value


def _check_settings(s: Settings, file: str) -> None:
    problems: list[Problem] = []
    if s.grids.count < 1:
        problems.append(Problem(file=file, field="grids.count", value=s.grids.count, message="must be at least 1"))
    if s.grids.balance_tolerance < 1.0:
        problems.append(
            Problem(
                file=file,
                field="grids.balance_tolerance",
                value=s.grids.balance_tolerance,
                message="is a max/min ratio, so at least 1.0",
                hint="e.g. 1.02 for 2%",
            )
        )
    if minutes_of_day(s.shift.end) <= minutes_of_day(s.shift.start):
        problems.append(Problem(file=file, field="shift.end", value=s.shift.end, message="must be after shift.start"))
    if s.district.lang not in LANGS:
        problems.append(
            Problem(
                file=file,
                field="district.lang",
                value=s.district.lang,
                message="unknown label language",
                hint=f"use {' or '.join(LANGS)}",
            )
        )
    if s.coords.retailers not in ("wgs84", "gcj02", "bd09"):
        problems.append(
            Problem(
                file=file,
                field="coords.retailers",
                value=s.coords.retailers,
                message="unknown coordinate system",
                hint="use wgs84, gcj02 or bd09",
            )
        )
    for kind in ("inspection", "marketing", "joint"):
        missing = [b for b in BUSINESS_TYPES if b not in getattr(s.service_min, kind)]
        if missing:
            problems.append(
                Problem(file=file, field=f"service_min.{kind}", message=f"no minutes for {', '.join(missing)}")
            )
    if problems:
        raise ConfigError(problems)


def load_settings(path: str | Path) -> Settings:
    """Read and validate a district.toml.

    Raises
    ------
    ConfigError
        Naming the file and key of the first problem (all problems in ``.problems``).
    """
    p = Path(path)
    file = str(p)
    if not p.exists():
        raise ConfigError(
            Problem(
                file=file,
                message="district file not found",
                hint="pass --district path/to/district.toml (the demo: data/demo/district.toml)",
            )
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(file=file, message=f"not valid TOML: {exc}")) from None
    settings = _build(Settings, data, file, "")
    settings = dataclasses.replace(settings, root=p.resolve().parent, file=str(p.resolve()))
    _check_settings(settings, file)
    return settings
