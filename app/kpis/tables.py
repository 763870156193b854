"""The tables the KPI pane and the day report both show, made from a day's KPIs: the KPIs
against their targets, plan against actual per route, the exceptions by type and how they
were resolved, and every KPI row for the CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.day.counts import DayCounts
from app.kpis.service import DayKpis
from engine.kpis import (
    DEFINITIONS,
    DayFacts,
    ExceptionFact,
    KpiValue,
    lateness_minutes,
    on_time_by_hour,
)


def day_counts(facts: DayFacts) -> DayCounts:
    """The day's routes (those with stops), stops on them and orders on none, counted as
    the routes pane counts them. The KPIs count an order on no route as a stop never
    reached (late once due), so the stop KPIs count ``routed + unassigned`` stops."""
    routed = sum(1 for s in facts.stops if s.route_id)
    return DayCounts(len(facts.routes), routed, len(facts.stops) - routed)


def counts_text(facts: DayFacts) -> str:
    """``25 routes · 400 routed stops · 1 unassigned (counted as never reached) · 3
    exceptions``: what the day's KPIs count, in the pane's heading, the report and the
    command line alike."""
    counts = day_counts(facts)
    text = counts.text + (" (counted as never reached)" if counts.unassigned else "")
    n = len(facts.exceptions)
    return f"{text} · {n:,} exception{'' if n == 1 else 's'}"


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI's value as shown: whole counts, one decimal from 10 on, else two."""
    if value is None:
        return "—"
    if unit in ("stops", "commands", "exceptions"):
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 or unit == "%" else f"{value:.2f}"


def met(value: float | None, target: float | None, better: str) -> bool | None:
    """Whether a value meets its target (None: no target or no value)."""
    if value is None or target is None:
        return None
    return value >= target if better == "higher" else value <= target


@dataclass(frozen=True)
class KpiLine:
    name: str
    title: str
    value: float | None
    unit: str
    target: float | None
    better: str
    met: bool | None
    numerator: float
    denominator: float
    rows: str

    @property
    def shown(self) -> str:
        return fmt_value(self.value, self.unit)

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'≥' if self.better == 'higher' else '≤'} {self.target:g}"


def kpi_lines(result: DayKpis, scope: str = "day", key: str = "") -> list[KpiLine]:
    """Every KPI of one scope with its target, in the order of ``docs/kpis.md``."""
    out = []
    for d in DEFINITIONS:
        v = result.report.value(d.name, scope, key)
        value = v.value if v else None
        target = result.target(d.name)
        out.append(KpiLine(d.name, d.title, value, d.unit, target, d.better,
                           met(value, target, d.better), v.numerator if v else 0.0,
                           v.denominator if v else 0.0, d.rows))  # fmt: skip
    return out


@dataclass(frozen=True)
class RouteLine:
    """Plan against actual of one route."""

    route_id: str
    vehicle: str
    driver: str
    wave: str
    stops: int
    on_time: int
    late: int
    planned_h: float | None
    actual_h: float | None
    planned_km: float
    driven_km: float
    in_order_pct: float | None
    departed: datetime | None
    ended: datetime | None

    @property
    def time_vs_plan_pct(self) -> float | None:
        if not self.planned_h or self.actual_h is None:
            return None
        return 100 * self.actual_h / self.planned_h


def route_lines(result: DayKpis) -> list[RouteLine]:
    """Plan against actual per route, in route order."""
    data, report = result.data, result.report
    by_route: dict[str, list[Any]] = defaultdict(list)
    for st in report.facts.stops:
        by_route[st.route_id].append(st)
    out = []
    for r in sorted(report.facts.routes, key=lambda r: r.route_id):

        def val(name: str, rid: str = r.route_id) -> float | None:
            v = report.value(name, "route", rid)
            return v.value if v else None

        stops = by_route.get(r.route_id, [])
        on_time = sum(s.on_time() for s in stops)
        actual = r.on_road_h(report.facts.as_of) if r.departed_at else None
        out.append(RouteLine(
            r.route_id, data.vehicle_names.get(r.vehicle_id, r.vehicle_id),
            data.driver_names.get(r.driver_id, r.driver_id), r.wave, len(stops), on_time,
            int(val("late_stops") or 0), r.planned_h, actual, r.planned_km, r.driven_km,
            val("sequence_adherence_pct"), r.departed_at, r.ended_at,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class ExceptionKind:
    """The day's exceptions of one type: how many, how fast, who resolved them."""

    type: str
    count: int
    acknowledged: int
    resolved: int
    resolve_median_min: float | None
    recovered: int
    known: int
    resolved_by: dict[str, int]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _who(e: ExceptionFact) -> str:
    if e.resolved is None:
        return "open"
    if e.resolved_by.startswith("rule:") or e.resolved_by in ("rule", "rules"):
        return "rule / cleared"
    return "person" if e.resolved_by and e.resolved_by != "system" else "system"


def exception_kinds(result: DayKpis) -> list[ExceptionKind]:
    """The day's exceptions by type, the most frequent first."""
    by_type: dict[str, list[ExceptionFact]] = defaultdict(list)
    for e in result.report.facts.exceptions:
        by_type[e.type].append(e)
    out = []
    for kind, rows in by_type.items():
        times = [(e.resolved - e.detected).total_seconds() / 60 for e in rows if e.resolved]
        who: dict[str, int] = defaultdict(int)
        for e in rows:
            who[_who(e)] += 1
        known = [e for e in rows if e.order_id and e.stop_on_time is not None]
        out.append(ExceptionKind(
            kind, len(rows), sum(e.acknowledged is not None for e in rows),
            sum(e.resolved is not None for e in rows), _median(times),
            sum(bool(e.stop_on_time) for e in known), len(known), dict(who),
        ))  # fmt: skip
    out.sort(key=lambda k: (-k.count, k.type))
    return out


def longest_exceptions(result: DayKpis, n: int = 15) -> list[ExceptionFact]:
    """The exceptions that took longest to resolve (still open counted to the day's end)."""
    end = result.report.facts.as_of

    def took(e: ExceptionFact) -> float:
        return ((e.resolved or end) - e.detected).total_seconds()

    return sorted(result.report.facts.exceptions, key=took, reverse=True)[:n]


def zone(result: DayKpis) -> ZoneInfo:
    return ZoneInfo(result.data.timezone)


def hourly_on_time(result: DayKpis) -> dict[int, tuple[int, int]]:
    return on_time_by_hour(result.report.facts.stops, zone(result))


def hour_ticks(hours: Iterable[int], most: int = 12) -> list[tuple[int, str]]:
    """The on-time-by-hour chart's hour ticks, as clock times: ``(8, "08:00")`` for every
    hour from the first to the last shown, or every second or third hour (on the hour)
    when there are more than ``most``."""
    shown = sorted(hours)
    if not shown:
        return []
    span = range(shown[0], shown[-1] + 1)
    step = 1
    while len(span) > most * step:
        step += 1
    return [(h, f"{h:02d}:00") for h in span if h % step == 0 or step == 1]


def lateness(result: DayKpis) -> list[float]:
    return lateness_minutes(result.report.facts.stops)


def recovery_minutes(result: DayKpis) -> tuple[list[float], list[float]]:
    """(minutes to acknowledge, minutes to resolve) of the day's exceptions."""
    ack, res = [], []
    for e in result.report.facts.exceptions:
        if e.acknowledged:
            ack.append((e.acknowledged - e.detected).total_seconds() / 60)
        if e.resolved:
            res.append((e.resolved - e.detected).total_seconds() / 60)
    return ack, res


CSV_COLUMNS = ("depot", "day", "final", "scope", "key", "name", "value", "numerator",
               "denominator", "unit", "target", "met")  # fmt: skip


def csv_rows(result: DayKpis) -> list[dict[str, Any]]:
    """Every KPI row (the day and each route, driver, vehicle, wave) for the CSV."""
    from engine.kpis import BY_NAME

    out = []
    for v in sorted(result.report.values, key=_order):
        target = result.target(v.name)
        ok = met(v.value, target, BY_NAME[v.name].better)
        out.append({"depot": result.depot_id, "day": result.day.isoformat(),
                    "final": result.final, "scope": v.scope, "key": v.key, "name": v.name,
                    "value": "" if v.value is None else round(v.value, 4),
                    "numerator": round(v.numerator, 4), "denominator": round(v.denominator, 4),
                    "unit": v.unit, "target": "" if target is None else target,
                    "met": "" if ok is None else ok})  # fmt: skip
    return out


_SCOPE_ORDER = {"day": 0, "wave": 1, "route": 2, "vehicle": 3, "driver": 4}
_NAME_ORDER = {d.name: i for i, d in enumerate(DEFINITIONS)}


def _order(v: KpiValue) -> tuple[int, str, int]:
    return (_SCOPE_ORDER.get(v.scope, 9), v.key, _NAME_ORDER.get(v.name, 999))


def write_csv(result: DayKpis, path: str | Path | None = None) -> str:
    """The KPI rows as CSV (written to ``path`` if given); returns the text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(csv_rows(result))
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
