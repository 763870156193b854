"""The day's KPIs for the desk: read the day from the store, compute, keep, trend.

``compute_day`` reads a depot's day (``app.kpis.facts``), computes every KPI for the day
and each route, driver, vehicle and wave (``engine.kpis``) and keeps them (``kpi_value``:
live values while the day runs, final ones after it). ``trend`` reads the kept day values
of the last days. ``open_day`` finds a day: in the desk's database, else in the library
of recorded days (or a ``.dday`` file), loaded into a store of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from app.jobs.cancel import checkpoint
from app.kpis.facts import DayData, TallyCache, load_day_data
from app.store import Store
from app.store import repository_kpis as rk
from engine.kpis import BY_NAME, DEFINITIONS, KpiReport, KpiValue, compute, gc_paused

log = logging.getLogger(__name__)

TREND_DAYS = 30


@dataclass
class DayKpis:
    """A day's KPIs and what they were computed from."""

    depot_id: str
    day: date
    data: DayData
    report: KpiReport
    source: str  # "database" or the recorded day's file
    read_s: float = 0.0
    compute_s: float = 0.0
    saved: int = 0

    @property
    def final(self) -> bool:
        return self.data.facts.final

    def target(self, name: str) -> float | None:
        if name in self.data.targets:
            return self.data.targets[name]
        return BY_NAME[name].target

    def day_value(self, name: str) -> KpiValue | None:
        return self.report.value(name)


def compute_day(
    store: Store,
    depot_id: str,
    day: date,
    *,
    as_of: datetime | None = None,
    final: bool | None = None,
    travel: Any = None,
    tallies: TallyCache | None = None,
    save: bool = True,
    source: str = "database",
    day_input: Any = None,
    plan: Any = None,
    scopes: Sequence[str] | None = None,
) -> DayKpis:
    """Every KPI of the depot's day as of ``as_of`` (default now), kept in ``kpi_value``."""
    started = time.perf_counter()
    with gc_paused():
        data = load_day_data(store, depot_id, day, as_of=as_of, final=final, travel=travel,
                             tallies=tallies, day_input=day_input, plan=plan)  # fmt: skip
        read_s = time.perf_counter() - started
        t0 = time.perf_counter()
        report = compute(data.facts, scopes=scopes)
        compute_s = time.perf_counter() - t0
    out = DayKpis(depot_id, day, data, report, source, read_s, compute_s)
    checkpoint()
    if save:
        try:
            with store.session() as s:
                out.saved = rk.save_kpis(s, depot_id, day, kept_values(report, data.facts.final),
                                         final=data.facts.final,
                                         computed_at=datetime.now(UTC))  # fmt: skip
        except Exception:  # kept for trends; a busy database costs only this day's point
            log.warning("the day's KPI values were not kept this time", exc_info=True)
    return out


#: The scopes whose values are kept for trends: while the day runs the day's and each
#: wave's; once final each driver's and vehicle's too. A route lives one day: its values
#: are in the day report's CSV, not in the trends.
KEPT_LIVE = ("day", "wave")
KEPT_FINAL = ("day", "wave", "driver", "vehicle")


def kept_values(report: KpiReport, final: bool) -> list[dict[str, Any]]:
    scopes = KEPT_FINAL if final else KEPT_LIVE
    return [v.to_json() for v in report.values_in(scopes)]


def keep_values(store: Store, result: DayKpis) -> bool:
    """Keep a day's values in ``store`` too (a recorded day's, computed in a store of its
    own, in the desk's database for its trends); False when the database refused."""
    try:
        with store.session() as s:
            rk.save_kpis(s, result.depot_id, result.day,
                         kept_values(result.report, result.final), final=result.final,
                         computed_at=datetime.now(UTC))  # fmt: skip
    except Exception:
        log.warning("the day's KPI values were not kept for trends", exc_info=True)
        return False
    return True


@dataclass
class Trend:
    """Kept day values of KPIs over the last days: name -> [(day, value, final)]."""

    first: date
    last: date
    series: dict[str, list[tuple[date, float | None, bool]]] = field(default_factory=dict)

    def values(self, name: str) -> list[tuple[date, float | None, bool]]:
        return self.series.get(name, [])


def trend(
    store: Store,
    depot_id: str,
    last: date,
    names: Sequence[str] | None = None,
    days: int = TREND_DAYS,
    scope: str = "day",
    key: str = "",
) -> Trend:
    """The kept values of ``names`` (default: every KPI) for the ``days`` days to ``last``."""
    names = list(names) if names is not None else [d.name for d in DEFINITIONS]
    first = last - timedelta(days=days - 1)
    out = Trend(first, last)
    with store.read_session() as s:
        for row in rk.kpi_trend(s, depot_id, names, first, last, scope, key):
            out.series.setdefault(row.name, []).append((row.day, row.value, row.final))
    return out


def set_target(store: Store, depot_id: str, name: str, value: float, *, actor: str) -> None:
    """A depot's own target for a KPI (``depot_id`` empty: every depot's)."""
    if name not in BY_NAME:
        raise ValueError(f"kpi target: no KPI named {name!r} (see docs/kpis.md)")
    with store.session() as s:
        rk.set_setting(s, depot_id, f"target:{name}", {"value": float(value)}, actor=actor,
                       now=datetime.now(UTC))  # fmt: skip


def set_cost(
    store: Store, depot_id: str, vehicle_type: str, costs: dict[str, float], *, actor: str
) -> None:
    """Costs per km, per hour and fixed per route of a vehicle type, for the depot."""
    if not vehicle_type:
        raise ValueError("kpi cost: give the vehicle type")
    for k, v in costs.items():
        if not v >= 0:
            raise ValueError(f"kpi cost: {k} must be a number at least 0, got {v}")
    with store.read_session() as s:
        known = dict(rk.settings(s, depot_id)).get(f"cost:{vehicle_type}", {})
    with store.session() as s:
        rk.set_setting(s, depot_id, f"cost:{vehicle_type}", {**known, **costs}, actor=actor,
                       now=datetime.now(UTC))  # fmt: skip


# -- finding a day ---------------------------------------------------------------------------


@dataclass
class OpenDay:
    """A day to compute: a store holding it, its depot and date, and where it came from."""

    store: Store
    depot_id: str
    day: date
    source: str
    _close: Any = None
    as_of: datetime | None = None  # a recorded day: its end (its KPIs are final)
    final: bool | None = None

    def close(self) -> None:
        if self._close is not None:
            self._close()


def depots_with_plan(store: Store, day: date) -> list[str]:
    with store.read_session() as s:
        return rk.depots_with_plan(s, day)


def open_day(store: Store | None, day_text: str, depot: str | None, default_depot: str) -> OpenDay:
    """The day ``day_text`` (YYYY-MM-DD or a ``.dday`` file): from the desk's database when
    it holds a plan for it, else from the library of recorded days.

    Raises ``LookupError`` saying where it looked."""
    from app.recorder.library import find

    as_file = Path(day_text)
    wanted: date | None = None
    if as_file.suffix != ".dday":
        try:
            wanted = date.fromisoformat(day_text)
        except ValueError:
            raise LookupError(f"--day {day_text!r}: expected YYYY-MM-DD or a .dday file") from None
    if wanted is not None and store is not None:
        depots = depots_with_plan(store, wanted)
        chosen = depot or (default_depot if default_depot in depots else None)
        if chosen is None and len(depots) == 1:
            chosen = depots[0]
        if chosen in depots:
            assert chosen is not None
            return OpenDay(store, chosen, wanted, "database")
        if depot is None and len(depots) > 1:
            raise LookupError(f"{wanted}: the database has plans of several depots "
                              f"({', '.join(depots)}); give --depot")  # fmt: skip
    try:
        path = find(day_text, depot)
    except FileNotFoundError as exc:
        raise LookupError(f"{day_text}: no plan of that day in the database, and {exc}") from None
    from app.kpis.recorded import open_recorded

    rec = open_recorded(path)
    return OpenDay(rec.store, rec.depot_id, rec.day, str(path), rec.close, rec.ended, True)
