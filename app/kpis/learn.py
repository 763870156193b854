"""Learning from the store's history: the depot's recorded days (stop events and
breadcrumbs) become service times per address → customer → zone → default and travel
factors per zone and hour (``engine.learning``), kept as the depot's learned profile
(``learned_profile``) for the planner and the live ETAs.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.store import Store, repository
from app.store import repository_kpis as rk
from engine.history import StopEvent, Track, day_history
from engine.learning import (
    DrivenLeg,
    ServiceProfile,
    TravelProfile,
    Visit,
    ZoneGrid,
    learn_service_times,
    learn_travel_factors,
)
from engine.model import Location

if TYPE_CHECKING:
    from app.jobs.day import DayJobs
    from app.telemetry.session import LiveSession

log = logging.getLogger(__name__)

ZONE_M = 2000.0


@dataclass(frozen=True)
class Learned:
    """A depot's learned service times and travel factors, and what they came from."""

    service: ServiceProfile
    travel: TravelProfile
    days: int
    first_day: date | None
    last_day: date | None
    trained_at: datetime | None = None

    def summary(self) -> str:
        span = f"{self.first_day} to {self.last_day}" if self.first_day else "no day"
        return (f"Learned from {self.days} days ({span}): {self.service.visits} visits "
                f"({len(self.service.customers)} customers, {len(self.service.addresses)} "
                f"addresses, {len(self.service.zones)} zones), {self.travel.legs} driven legs "
                f"({len(self.travel.zones)} zones × {len(self.travel.hours)} hours)")  # fmt: skip


def history_of_day(store: Store, depot_id: str, day: date, travel: Any) -> tuple[list[Visit], list[DrivenLeg]]:  # fmt: skip
    """One stored day's service visits and driven legs."""
    with store.read_session() as s:
        day_input = repository.load_day(s, depot_id, day)
        plan = repository.load_plan(s, depot_id, day)
        if plan is None:
            return [], []
        depot = day_input.depot(depot_id)
        start, end = repository.depot_day_bounds(depot.timezone, day)
        vehicles = sorted({r.vehicle_id for r in plan.routes if r.stops})
        events = [StopEvent(v, sid, t, ts) for v, sid, t, ts in
                  rk.stop_events(s, vehicles, start, end + timedelta(hours=6))]  # fmt: skip
        crumbs: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        for vid, ts, lat, lon in rk.breadcrumbs(s, vehicles, start, end + timedelta(hours=6)):
            crumbs[vid].append((ts, lat, lon))
    tracks = {vid: Track.of(rows) for vid, rows in crumbs.items()}
    points = [depot.location, *(o.location for o in day_input.orders)]
    mats = travel.matrices(points)
    index = {p: i for i, p in enumerate(points)}

    def seconds(a: Location, b: Location) -> float:
        return float(mats.duration_s[index[a], index[b]])

    orders = {o.id: o for o in day_input.orders}
    return day_history(events, tracks, orders, depot.location, seconds)


def learn_from_store(
    store: Store, depot_id: str, *, days: int = 60, before: date | None = None,
    actor: str = "desk", travel: Any = None,
) -> str:  # fmt: skip
    """Learn from the depot's last ``days`` planned days (before ``before``, default today)
    and keep the profile; returns a one-paragraph summary. ``LookupError`` without days."""
    started = time.perf_counter()
    before = before or date.today()
    with store.read_session() as s:
        planned = rk.planned_days(s, depot_id, before)[-days:]
        depots = {d.id: d for d in repository.list_depots(s)}
    if depot_id not in depots:
        raise LookupError(f"depot {depot_id!r} is not in the database (it has: "
                          f"{', '.join(sorted(depots)) or 'none'})")  # fmt: skip
    if not planned:
        raise LookupError(f"depot {depot_id}: no planned day before {before} to learn from")
    depot = depots[depot_id]
    if travel is None:
        from app.travel.choose import travel_model_for

        travel = travel_model_for(depot)
    visits: list[Visit] = []
    legs: list[DrivenLeg] = []
    used = []
    for day in planned:
        v, g = history_of_day(store, depot_id, day, travel)
        if v or g:
            used.append(day)
        visits += v
        legs += g
    if not used:
        raise LookupError(f"depot {depot_id}: its {len(planned)} planned days have no stop "
                          "events or breadcrumbs to learn from")  # fmt: skip
    grid = ZoneGrid(depot.location, ZONE_M)
    learned = Learned(learn_service_times(visits, grid),
                      learn_travel_factors(legs, grid, depot.timezone), len(used), used[0],
                      used[-1], datetime.now(UTC))  # fmt: skip
    with store.session() as s:
        rk.save_profile(s, rk.StoredProfile(depot_id, learned.trained_at or datetime.now(UTC),
                                            used[0], used[-1], len(used),
                                            learned.service.to_json(),
                                            learned.travel.to_json()), actor=actor)  # fmt: skip
    return learned.summary() + f" in {time.perf_counter() - started:.1f} s"


def use_learned(store: Store, depot_id: str, day_jobs: DayJobs, live: LiveSession) -> str:
    """Plans, re-plans, previews and live ETAs use the depot's learned service times and travel
    factors once it has them (``python main.py kpis learn``); returns what to tell the user
    ("" without a profile)."""
    learned = load_learned(store, depot_id)
    day_jobs.learned = learned
    if day_jobs.dispatch is not None:  # previews, suggestions, urgent orders: the same times
        day_jobs.dispatch.use_learned(learned)
    live.service_profile = learned.service if learned is not None else None
    if learned is None:
        return ""
    live.travel_sigma = learned.travel.sigma_log
    live.service_sigma = learned.service.sigma_log
    return (
        f"Plans and ETAs use what {learned.days} recorded days taught "
        f"({learned.first_day} to {learned.last_day})"
    )


def load_learned(store: Store, depot_id: str) -> Learned | None:
    """The depot's kept profile, or None (never learned, or unreadable: logged)."""
    try:
        with store.read_session() as s:
            row = rk.load_profile(s, depot_id)
        if row is None:
            return None
        return Learned(ServiceProfile.from_json(row.service), TravelProfile.from_json(row.travel),
                       row.days, row.first_day, row.last_day, row.trained_at)  # fmt: skip
    except Exception:
        log.warning("the learned profile of %s could not be read", depot_id, exc_info=True)
        return None
