"""The demo's two-year history: a hidden risk process run day by day, the event log, orders, ground truth.

The process (documented in data/demo/README.md) gives each retailer a latent offence rate;
offences lead to tip-offs, complaints and marketing reports, inspections find some of them,
and the per-retailer expected violation rate is kept as the ground truth risk models are
scored against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree
from shapely.geometry import Point

from gridmgmt.store import EVENT_COLUMNS

log = logging.getLogger(__name__)

# Hidden risk process (see data/demo/README.md): log-rate effects and parameters.
BASE_RATE_PER_YEAR = 0.08
TYPE_EFFECT = {"grocery": 0.0, "convenience": -0.2, "supermarket": -0.5, "mall": -0.9,
               "tobacco_liquor": 0.7, "entertainment": 0.5, "other": 0.0}  # fmt: skip
CLASS_EFFECT = {"AAA": -0.8, "AA": -0.4, "A": 0.0, "B": 0.5, "C": 0.9, "D": 1.3}
SCHOOL_EFFECT = 0.6
SCHOOL_RADIUS_M = 100.0
INDIVIDUAL_SD = 0.6
#: Latent hot areas: east km, north km from the centre, log-rate amplitude, sigma in metres.
HOT_AREAS: tuple[tuple[float, float, float, float], ...] = (
    (-0.7, -0.2, 1.2, 350.0),  # 市西河 market streets
    (1.3, 0.6, 1.0, 300.0),  # 盐务街
    (0.4, 2.0, 0.9, 350.0),  # 八鸽岩
    (5.4, 2.4, 1.0, 500.0),  # 渔安 new town
)
NEAR_REPEAT_RADIUS_M = 300.0
EXCITE_TAU_DAYS = 20.0
EXCITE_SELF_PER_DAY = 0.004
EXCITE_NEIGHBOUR_PER_DAY = 0.0008
SPIKE_SHARE = 0.40


@dataclass(frozen=True)
class HotArea:
    """A latent hot area of the dynamic hidden process, with its life over the history.

    The log-rate bump at a retailer is ``amp * m(t) * exp(-d^2 / 2 sigma^2)``; ``m(t)`` rises
    linearly from 0 at ``start`` to 1 at ``full`` and falls linearly from 1 at ``fade_start`` to
    ``floor`` at ``fade_end`` (empty dates: always on / never fades). The centre moves linearly
    from (``east_km``, ``north_km``) at the start of the history to (``east_end_km``,
    ``north_end_km``) at its end (offsets from 喷水池). ``network`` areas are organised
    counterfeit/smuggling networks: their offences are mostly counterfeit or smuggled and more
    often preceded by an order spike.
    """

    name: str
    east_km: float
    north_km: float
    amp: float
    sigma_m: float
    start: str = ""
    full: str = ""
    fade_start: str = ""
    fade_end: str = ""
    floor: float = 0.0
    east_end_km: float | None = None
    north_end_km: float | None = None
    network: bool = False


#: Latent hot areas of the dynamic process (see data/demo/README.md, "The hidden risk process").
DYNAMIC_HOT_AREAS: tuple[HotArea, ...] = (
    HotArea("市西河 market streets", -0.7, -0.2, 1.2, 350.0),
    HotArea("盐务街 (cleaned up)", 1.3, 0.6, 1.2, 300.0, fade_start="2025-10-15", fade_end="2026-01-15", floor=0.1),
    HotArea("八鸽岩 (drifting)", 0.4, 2.0, 0.9, 350.0, east_end_km=1.3, north_end_km=2.9),
    HotArea("金关 network (dismantled)", -1.05, 4.6, 1.6, 450.0, start="2025-04-01", full="2025-06-01",
            fade_start="2026-01-15", fade_end="2026-02-28", network=True),
    HotArea("渔安 network (new)", 5.5, 2.2, 1.8, 500.0, start="2025-12-15", full="2026-02-15", network=True),
    HotArea("三桥 network (new)", -5.5, -0.1, 2.0, 450.0, start="2026-05-01", full="2026-06-30", network=True),
    HotArea("茶园路 network (new)", 1.6, 4.2, 1.8, 400.0, start="2026-07-15", full="2026-09-01", network=True),
)  # fmt: skip
#: Offending episodes: entry rate = EPISODE_ENTRY x the retailer's current background rate.
EPISODE_ENTRY = 1.0
EPISODE_FACTOR = 12.0  # hazard multiplier while in an episode
EPISODE_MIN_DAYS, EPISODE_MEAN_EXTRA_DAYS = 30, 90
EPISODE_SPIKE = 0.7  # chance an episode starts with an order spike in its first 3 weeks
EPISODE_TIP_OFF = 0.5  # chance neighbours tip the bureau off 7-40 days into an episode
NETWORK_SPIKE_SHARE = 0.6
#: Enforcement effect: after a found violation the retailer's hazard is multiplied by DETERRENCE
#: for DETERRENCE_DAYS, and its episode ends with probability EPISODE_END_ON_FOUND.
DETERRENCE, DETERRENCE_DAYS, EPISODE_END_ON_FOUND = 0.35, 180, 0.7
ORACLE_HORIZON_DAYS = 90
BASE_CARTONS_PER_WEEK = {"grocery": 8.0, "convenience": 14.0, "supermarket": 35.0, "mall": 55.0,
                         "tobacco_liquor": 30.0, "entertainment": 5.0, "other": 4.0}  # fmt: skip
CLASS_ORDER_FACTOR = {"AAA": 2.5, "AA": 1.8, "A": 1.0, "B": 0.8, "C": 0.7, "D": 0.6}
SPRING_FESTIVALS = ("2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26")


def _season(days: pd.DatetimeIndex) -> np.ndarray:
    """Multiplier of the offence rate: +40% around the Spring Festival (gift trade)."""
    out = np.ones(len(days))
    for d in SPRING_FESTIVALS:
        dt = (days - pd.Timestamp(d)).days.to_numpy()
        out += 0.4 * np.exp(-(((dt + 10) / 20.0) ** 2))
    return out


def _latent(rng: np.random.Generator, r: pd.DataFrame, schools: gpd.GeoDataFrame, centre: Point) -> pd.DataFrame:
    """Per-retailer log-rate components of the hidden process."""
    xy = r[["x", "y"]].to_numpy()
    sxy = np.column_stack([schools["x"], schools["y"]])
    d_school = cKDTree(sxy).query(xy)[0]
    hot = np.zeros(len(r))
    for east, north, amp, sigma in HOT_AREAS:
        hx, hy = centre.x + east * 1000, centre.y + north * 1000
        hot += amp * np.exp(-((xy[:, 0] - hx) ** 2 + (xy[:, 1] - hy) ** 2) / (2 * sigma**2))
    comp = pd.DataFrame(
        {
            "log_type": r["business_type"].map(TYPE_EFFECT).to_numpy(),
            "log_class": r["customer_class"].map(CLASS_EFFECT).to_numpy(),
            "log_school": np.where(d_school <= SCHOOL_RADIUS_M, SCHOOL_EFFECT, 0.0),
            "log_hot_area": hot,
            "log_individual": rng.normal(0.0, INDIVIDUAL_SD, len(r)),
        }
    )
    comp["base_rate_per_year"] = BASE_RATE_PER_YEAR * np.exp(comp.sum(axis=1))
    comp["school_distance_m"] = np.round(d_school, 1)
    return comp


def _hot_area_layers(
    xy: np.ndarray, centre: Point, days: pd.DatetimeIndex, areas: tuple[HotArea, ...] = DYNAMIC_HOT_AREAS
) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """A function of the day index giving each retailer's hot-area log-rate bump and network bump."""
    t = (days - days[0]).days.to_numpy(dtype=float)

    def day(text: str, default: float) -> float:
        return float((pd.Timestamp(text) - days[0]).days) if text else default

    profiles, centres = [], []
    for a in areas:
        up = np.interp(t, [day(a.start, -2.0), day(a.full, -1.0)], [0.0, 1.0]) if a.start else np.ones(len(t))
        down = np.interp(t, [day(a.fade_start, 1e9), day(a.fade_end, 1e9 + 1)], [1.0, a.floor])
        profiles.append(a.amp * up * down)
        e1 = a.east_km if a.east_end_km is None else a.east_end_km
        n1 = a.north_km if a.north_end_km is None else a.north_end_km
        frac = t / max(t[-1], 1.0)
        centres.append(
            (
                centre.x + 1000 * (a.east_km + (e1 - a.east_km) * frac),
                centre.y + 1000 * (a.north_km + (n1 - a.north_km) * frac),
            )
        )

    def at(d: int) -> tuple[np.ndarray, np.ndarray]:
        hot, network = np.zeros(len(xy)), np.zeros(len(xy))
        for a, prof, (cx, cy) in zip(areas, profiles, centres, strict=True):
            if prof[d] <= 0:
                continue
            bump = prof[d] * np.exp(-((xy[:, 0] - cx[d]) ** 2 + (xy[:, 1] - cy[d]) ** 2) / (2 * a.sigma_m**2))
            hot += bump
            if a.network:
                network += bump
        return hot, network

    return at


_KINDS = ("counterfeit", "smuggled", "illegal_channel", "unlicensed", "minors", "other")
_KIND_ZH = {
    "counterfeit": "销售假冒卷烟",
    "smuggled": "销售走私卷烟",
    "illegal_channel": "非法渠道购进/跨区销售",
    "unlicensed": "超范围/无证经营",
    "minors": "向未成年人售烟",
    "other": "其他违规",
}


def simulate_history(
    rng: np.random.Generator,
    r: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    centre: Point,
    history_end: str,
    history_days: int,
    *,
    dynamic: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the hidden process day by day: offences, reports, inspections, visits; then weekly orders.

    ``dynamic=False`` is the first published, stationary process (four fixed hot areas, no
    episodes, no enforcement effect); it draws from ``rng`` exactly as it always did.
    ``dynamic=True`` adds hot areas that emerge, fade and move (:data:`DYNAMIC_HOT_AREAS`),
    offending episodes with order spikes and tip-offs as leading indicators, and deterrence
    after a found violation.

    Parameters
    ----------
    rng
        Random stream (advanced).
    r
        Retailers with ``retailer_id``, ``business_type``, ``customer_class``, ``licence_date``
        and UTM ``x``, ``y`` (m).
    schools
        Schools with UTM ``x``, ``y`` (m).
    centre
        喷水池 in UTM; hot areas are placed relative to it.
    history_end, history_days
        Last day of the history (``YYYY-MM-DD``, inclusive) and its length in days.
    dynamic
        Run the dynamic process (the default) or the first, stationary one.

    Returns
    -------
    tuple of pandas.DataFrame
        The event log, the weekly orders (cartons) and the per-retailer ground truth.
    """
    n = len(r)
    end = pd.Timestamp(history_end)
    days = pd.date_range(end=end, periods=history_days, freq="D")
    n_days = len(days)
    weekday = days.day_of_week.to_numpy()
    lic_day = np.clip((pd.to_datetime(r["licence_date"]) - days[0]).dt.days.to_numpy(), 0, None)
    comp = _latent(rng, r, schools, centre)
    lam = comp["base_rate_per_year"].to_numpy() / 365.0
    season = _season(days)
    if dynamic:  # the hot areas change with time: keep the rest of log λ fixed
        lam_fixed = lam / np.exp(comp["log_hot_area"].to_numpy())
        hot_at = _hot_area_layers(r[["x", "y"]].to_numpy(), centre, days)
        episode_until = np.full(n, -1)
        deter_until = np.full(n, -1)
        cum_hazard = np.zeros((n_days + 1, n), dtype=np.float32)
        network_now = np.zeros(n)
    near_school = comp["log_school"].to_numpy() > 0
    xy = r[["x", "y"]].to_numpy()
    tree = cKDTree(xy)
    sparse = tree.sparse_distance_matrix(tree, NEAR_REPEAT_RADIUS_M, output_type="coo_matrix")
    w = sparse.tocsr()
    w.data = EXCITE_NEIGHBOUR_PER_DAY * (1.0 - w.data / NEAR_REPEAT_RADIUS_M)
    w = w + _diag(n, EXCITE_SELF_PER_DAY)
    decay = np.exp(-1.0 / EXCITE_TAU_DAYS)
    ids = r["retailer_id"].to_numpy()
    cls = r["customer_class"].to_numpy()
    interval = pd.Series(cls).map({"AAA": 60, "AA": 60, "A": 45, "B": 30, "C": 21, "D": 14}).to_numpy(float)
    next_insp = lic_day + (rng.uniform(0, 1, n) * interval).astype(int)
    watch_until = np.full(n, -1)
    active_until = np.full(n, -1)
    active_off = np.full(n, -1)
    excite = np.zeros(n)
    offences: list[dict] = []
    events: list[tuple] = []  # (day, minute, retailer, type, department, outcome, severity, kind, note, offence)
    pending: dict[int, list[tuple]] = {}
    spikes: list[tuple[int, int]] = []  # (retailer, day of the spike week)
    found_after: dict[str, int] = {}  # violations found, by what triggered the inspection

    def minute(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi))

    def schedule(day: int, item: tuple) -> None:
        if day < n_days:
            pending.setdefault(day, []).append(item)

    def working(day: int) -> int:
        while day < n_days and weekday[day] >= 5:
            day += 1
        return day

    for d in range(n_days):
        excite *= decay
        if dynamic:
            hot_now, network_now = hot_at(d)
            lam = lam_fixed * np.exp(hot_now)
            live = d >= lic_day
            starting = np.flatnonzero(live & (episode_until < d) & (rng.random(n) < lam * EPISODE_ENTRY))
            for i in starting.tolist():
                episode_until[i] = d + EPISODE_MIN_DAYS + int(rng.exponential(EPISODE_MEAN_EXTRA_DAYS))
                if rng.random() < EPISODE_SPIKE:  # stocking up: a leading indicator in the orders
                    spikes.append((int(i), d + int(rng.integers(0, 21))))
                if rng.random() < EPISODE_TIP_OFF:  # neighbours notice the new trade
                    schedule(d + int(rng.integers(7, 41)), ("tip_off", int(i), -1))
            mult = np.where(episode_until >= d, EPISODE_FACTOR, 1.0) * np.where(deter_until >= d, DETERRENCE, 1.0)
            hazard = (lam * season[d] + excite) * mult * live
            cum_hazard[d + 1] = cum_hazard[d] + hazard
        else:
            hazard = (lam * season[d] + excite) * (d >= lic_day)
        hit = np.flatnonzero(rng.random(n) < -np.expm1(-hazard))
        for i in hit.tolist():
            spike = rng.random() < (NETWORK_SPIKE_SHARE if dynamic and network_now[i] > 0.5 else SPIKE_SHARE)
            if dynamic and network_now[i] > 0.5 and rng.random() < 0.8:  # an organised network's goods
                kind = str(rng.choice(["counterfeit", "smuggled", "illegal_channel"], p=[0.5, 0.3, 0.2]))
                if spike:
                    spikes.append((i, d - int(rng.integers(2, 10))))
            elif spike:
                kind = "illegal_channel" if rng.random() < 0.7 else str(rng.choice(["counterfeit", "smuggled"]))
                spikes.append((i, d - int(rng.integers(2, 10))))
            elif near_school[i] and rng.random() < 0.4:
                kind = "minors"
            else:
                kind = str(rng.choice(_KINDS, p=[0.28, 0.12, 0.2, 0.1, 0.15, 0.15]))
            sev = str(rng.choice(["minor", "serious", "criminal"], p=[0.7, 0.25, 0.05]))
            if kind in ("counterfeit", "smuggled") and sev == "minor" and rng.random() < 0.4:
                sev = "serious"
            k = len(offences)
            offences.append({"retailer": i, "day": d, "kind": kind, "severity": sev, "spike": spike, "found": -1})
            active_off[i] = k
            active_until[i] = d + 15 + int(rng.exponential(40))
            if rng.random() < 0.32:  # a neighbour or customer tips the bureau off
                schedule(d + int(rng.integers(0, 7)), ("tip_off", i, k))
            if rng.random() < (0.3 if kind == "illegal_channel" else 0.12):
                schedule(d + int(rng.integers(3, 16)), ("marketing_report", i, k))
            if rng.random() < (0.35 if kind == "minors" else 0.08):
                schedule(d + int(rng.integers(0, 11)), ("complaint", i, k))
        if len(hit):
            excite += np.asarray(w[:, hit].sum(axis=1)).ravel()
        # reports arriving today, and the inspections they trigger
        inspect: list[tuple[int, float, str]] = []  # (retailer, detection probability, reason)
        for item in pending.pop(d, []):
            kind, i = item[0], item[1]
            if kind == "inspect":
                inspect.append((i, item[3], item[4]))
                continue
            k = item[2]
            if kind == "tip_off":
                events.append((d, minute(420, 1320), i, "tip_off", "public", "", "", "", "举报疑似违规售烟", -1))
                schedule(working(d + int(rng.integers(0, 3))), ("inspect", i, k, 0.9, "tip_off"))
            elif kind == "complaint":
                note = "投诉向未成年人售烟" if offences[k]["kind"] == "minors" and k >= 0 else "投诉经营行为"
                events.append((d, minute(480, 1260), i, "complaint", "public", "", "", "", note, -1))
                schedule(working(d + int(rng.integers(1, 4))), ("inspect", i, k, 0.8, "complaint"))
            elif kind == "marketing_report":
                events.append(
                    (d, minute(540, 1050), i, "marketing_report", "marketing", "", "", "", "订货/经营异常", -1)
                )
                if k >= 0 or rng.random() < 0.5:
                    schedule(working(d + int(rng.integers(1, 6))), ("inspect", i, k, 0.7, "joint"))
        if weekday[d] < 5:
            due = np.flatnonzero((next_insp <= d) & (d >= lic_day))
            for i in due.tolist():
                inspect.append((int(i), 0.6, "routine"))
                gap = interval[i] if watch_until[i] < d else 14
                next_insp[i] = d + max(7, int(gap * rng.uniform(0.75, 1.25)))
        for i, p_detect, reason in inspect:
            t = minute(540, 1020)
            live = active_off[i] >= 0 and active_until[i] >= d and offences[active_off[i]]["found"] < 0
            if live and rng.random() < p_detect:
                found_after[reason] = found_after.get(reason, 0) + 1
                off = offences[active_off[i]]
                off["found"] = d
                active_until[i] = -1
                events.append((d, t, i, "inspection", "monopoly", "violation", "", "", "", -1))
                events.append(
                    (
                        d,
                        t,
                        i,
                        "violation",
                        "monopoly",
                        "",
                        off["severity"],
                        off["kind"],
                        _KIND_ZH[off["kind"]],
                        active_off[i],
                    )
                )
                watch_until[i] = d + 90
                next_insp[i] = min(next_insp[i], d + 14)
                if dynamic:  # enforcement deters this retailer for a while, and often ends its episode
                    deter_until[i] = d + DETERRENCE_DAYS
                    if rng.random() < EPISODE_END_ON_FOUND:
                        episode_until[i] = min(episode_until[i], d)
            else:
                events.append((d, t, i, "inspection", "monopoly", "ok", "", "", "", -1))
    # wrong reports, so that ~60% of tip-offs, ~25% of complaints and ~50% of marketing reports are correct
    n_wrong = {}
    for kind, reason, share in (
        ("tip_off", "tip_off", 0.55),
        ("complaint", "complaint", 0.22),
        ("marketing_report", "joint", 0.5),
    ):
        n_kind = sum(1 for e in events if e[3] == kind)
        found_n = found_after.get(reason, 0)
        if dynamic:  # a small or short district still gets a few wrong reports of every kind
            found_n = max(found_n, 1)
        n_wrong[kind] = max(0, round(found_n / share) - n_kind)
    # wrong reports lean towards risky-looking shops, but not towards hot areas that do not exist yet
    events += _false_reports(rng, lam_fixed if dynamic else lam, lic_day, weekday, n_days, n_wrong)
    events += _marketing_visits(rng, cls, lic_day, weekday, n_days)
    ev = _events_frame(events, ids, days, rng)
    orders = _orders(rng, r, lic_day, days, spikes)
    truth = comp.copy()
    excite_year = excite * EXCITE_TAU_DAYS * (1 - np.exp(-365.0 / EXCITE_TAU_DAYS))
    if dynamic:  # the state at the end: hot areas, episodes and deterrence as they are on the last day
        hot_end, _ = hot_at(n_days - 1)
        truth["log_hot_area"] = hot_end
        truth["base_rate_per_year"] = lam_fixed * 365.0 * np.exp(hot_end)
        state = np.where(episode_until >= n_days - 1, EPISODE_FACTOR, 1.0)
        state = state * np.where(deter_until >= n_days - 1, DETERRENCE, 1.0)
        excite_year = excite_year * state
        truth["episode_factor_at_end"] = np.where(episode_until >= n_days - 1, EPISODE_FACTOR, 1.0)
        truth["deterred_at_end"] = (deter_until >= n_days - 1).astype(int)
        true_risk = truth["base_rate_per_year"] * season.mean() * state + excite_year
    else:
        true_risk = comp["base_rate_per_year"] * season.mean() + excite_year
    truth.insert(0, "retailer_id", ids)
    truth.insert(1, "true_risk", np.round(true_risk, 5))
    truth["base_rate_per_year"] = truth["base_rate_per_year"].round(5)
    truth["excitation_per_year"] = np.round(excite_year, 5)
    counts = pd.Series([o["retailer"] for o in offences], dtype=int).value_counts()
    found = pd.Series([o["retailer"] for o in offences if o["found"] >= 0], dtype=int).value_counts()
    truth["offences"] = counts.reindex(range(n), fill_value=0).to_numpy()
    truth["violations_found"] = found.reindex(range(n), fill_value=0).to_numpy()
    for c in ("log_type", "log_class", "log_school", "log_hot_area", "log_individual"):
        truth[c] = truth[c].round(4)
    if dynamic:  # the oracle of a backtest at each month start: offences expected in the next 90 days
        for start in pd.date_range(days[0], days[-1], freq="MS"):
            k = (start - days[0]).days
            if k + ORACLE_HORIZON_DAYS <= n_days:
                expected = cum_hazard[k + ORACLE_HORIZON_DAYS] - cum_hazard[k]
                truth[f"expected_90d_{start.date().isoformat()}"] = np.round(expected.astype(float), 5)
    log.info(
        "demo: %d offences, %d found (%.0f%%)",
        len(offences),
        int(truth["violations_found"].sum()),
        100 * truth["violations_found"].sum() / max(1, len(offences)),
    )
    return ev, orders, truth


def _diag(n: int, value: float) -> sparse.csr_matrix:
    return sparse.identity(n, format="csr") * value


def _false_reports(
    rng: np.random.Generator,
    lam: np.ndarray,
    lic_day: np.ndarray,
    weekday: np.ndarray,
    n_days: int,
    n_wrong: dict[str, int],
) -> list[tuple]:
    """Wrong tip-offs (~40% of all), complaints (~75%) and marketing reports (~50%), with follow-up inspections.

    Wrong reports lean mildly towards shops that look risky (probability ~ sqrt of the latent rate)."""
    out: list[tuple] = []
    p = np.sqrt(lam)
    p = p / p.sum()
    for kind, dept, count, note, p_follow in (
        ("tip_off", "public", n_wrong["tip_off"], "举报疑似违规售烟", 1.0),
        ("complaint", "public", n_wrong["complaint"], "投诉经营行为", 0.6),
        ("marketing_report", "marketing", n_wrong["marketing_report"], "订货/经营异常", 0.5),
    ):
        who = rng.choice(len(lam), size=count, p=p)
        for i in who:
            d = int(rng.integers(lic_day[i], n_days)) if lic_day[i] < n_days else n_days - 1
            out.append((d, int(rng.integers(420, 1320)), int(i), kind, dept, "", "", "", note, -1))
            if rng.random() < p_follow:
                di = d + int(rng.integers(0, 3))
                while di < n_days and weekday[di] >= 5:
                    di += 1
                if di < n_days:
                    out.append(
                        (di, int(rng.integers(540, 1020)), int(i), "inspection", "monopoly", "ok", "", "", "", -1)
                    )
    return out


def _marketing_visits(
    rng: np.random.Generator, cls: np.ndarray, lic_day: np.ndarray, weekday: np.ndarray, n_days: int
) -> list[tuple]:
    """Routine customer-manager visits on working days: AAA 4, AA 2, others 1 per month."""
    per_month = pd.Series(cls).map({"AAA": 4.0, "AA": 2.0}).fillna(1.0).to_numpy()
    workdays = np.flatnonzero(weekday < 5)
    out: list[tuple] = []
    for i in range(len(cls)):
        days_i = workdays[workdays >= lic_day[i]]
        if not len(days_i):
            continue
        m = rng.poisson(per_month[i] * len(days_i) / 21.75)
        for d in np.sort(rng.choice(days_i, size=m)):
            out.append((int(d), int(rng.integers(540, 1020)), i, "visit", "marketing", "", "", "", "", -1))
    return out


def _events_frame(
    events: list[tuple], ids: np.ndarray, days: pd.DatetimeIndex, rng: np.random.Generator
) -> pd.DataFrame:
    cols = [
        "day",
        "minute",
        "retailer",
        "type",
        "department",
        "outcome",
        "severity",
        "violation_kind",
        "note",
        "offence",
    ]
    ev = pd.DataFrame(events, columns=cols)
    type_order = {"tip_off": 0, "complaint": 1, "marketing_report": 2, "visit": 3, "inspection": 4, "violation": 5}
    ev["_t"] = ev["type"].map(type_order)
    ev = ev.sort_values(["day", "minute", "retailer", "_t"], kind="stable").reset_index(drop=True)
    ev["event_id"] = [f"E{k + 1:07d}" for k in range(len(ev))]
    stamp = days[ev["day"].to_numpy()] + pd.to_timedelta(ev["minute"].to_numpy(), unit="min")
    ev["time"] = stamp.strftime("%Y-%m-%dT%H:%M")
    ev["retailer_id"] = ids[ev["retailer"].to_numpy()]
    ev["corrects"] = ""
    ev = ev[list(EVENT_COLUMNS)]
    # a few recorded violations are later corrected (append-only log: the correction is a new event)
    viol = np.flatnonzero(ev["type"].to_numpy() == "violation")
    if len(viol) >= 10:
        fixes = []
        last = pd.Timestamp(days[-1]) + pd.Timedelta(hours=17)
        for k in rng.choice(viol, size=max(1, len(viol) // 100), replace=False):
            row = ev.iloc[k].copy()
            t = pd.Timestamp(row["time"]) + pd.Timedelta(days=int(rng.integers(1, 5)))
            if t > last:
                continue
            row["time"] = t.strftime("%Y-%m-%dT%H:%M")
            row["severity"] = "serious" if row["severity"] == "minor" else "minor"
            row["note"] = f"更正：案件定性调整 ({row['severity']})"
            row["corrects"] = row["event_id"]
            fixes.append(row)
        if fixes:
            extra = pd.DataFrame(fixes)
            extra["event_id"] = [f"E{len(ev) + k + 1:07d}" for k in range(len(extra))]
            ev = pd.concat([ev, extra], ignore_index=True)
    return ev


def _orders(
    rng: np.random.Generator,
    r: pd.DataFrame,
    lic_day: np.ndarray,
    days: pd.DatetimeIndex,
    spikes: list[tuple[int, int]],
) -> pd.DataFrame:
    """Weekly cartons: a baseline by business type and class, noise, the Spring Festival, and spikes
    (before ~40% of offences, and a few harmless ones)."""
    n = len(r)
    mondays = pd.date_range(days[0] - pd.Timedelta(days=days[0].day_of_week), days[-1], freq="W-MON")
    mondays = mondays[mondays >= days[0]]
    n_weeks = len(mondays)
    base = (
        r["business_type"].map(BASE_CARTONS_PER_WEEK).to_numpy()
        * r["customer_class"].map(CLASS_ORDER_FACTOR).to_numpy()
        * rng.lognormal(0.0, 0.35, n)
    )
    fest = np.ones(n_weeks)
    for d in SPRING_FESTIVALS:
        dt = (mondays - pd.Timestamp(d)).days.to_numpy()
        fest += np.select(
            [(dt > -28) & (dt <= -21), (dt > -21) & (dt <= -14), (dt > -14) & (dt <= 0)], [0.15, 0.3, 0.5], 0.0
        )  # the festival ramp before 春节
    cartons = base[:, None] * fest[None, :] * rng.gamma(16.0, 1.0 / 16.0, (n, n_weeks))
    week_of = ((np.array([s[1] for s in spikes], dtype=int) - (mondays[0] - days[0]).days) // 7) if spikes else []
    harmless_r = rng.choice(n, size=n // 10)
    harmless_w = rng.integers(0, n_weeks, size=len(harmless_r))
    for i, wk in [*zip([s[0] for s in spikes], week_of, strict=True), *zip(harmless_r, harmless_w, strict=True)]:
        if 3 <= wk < n_weeks:
            prev = cartons[i, wk - 3 : wk].mean()
            cartons[i, wk] = max(prev * rng.uniform(2.2, 4.0), rng.uniform(21.0, 40.0))
    cartons = np.round(cartons * 2) / 2
    lic_week = np.searchsorted(mondays.to_numpy(), (days[0] + pd.to_timedelta(lic_day, unit="D")).to_numpy())
    ii, ww = np.nonzero(np.arange(n_weeks)[None, :] >= lic_week[:, None])
    return pd.DataFrame(
        {
            "retailer_id": r["retailer_id"].to_numpy()[ii],
            "week": mondays.strftime("%Y-%m-%d").to_numpy()[ww],
            "cartons": cartons[ii, ww].astype(float),
        }
    )
