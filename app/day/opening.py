"""Opening the depot's day at start: read from the database, seeded on a first start.

The demo depot gets a fresh demo day each day it is opened on (when ``DISPATCH_DEMO`` is
on); any other depot's day is whatever was imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from app.settings import Settings
from app.store import Store, repository
from app.store.database import serialize
from app.store.roles import begin_command
from engine.model import DayInput, Depot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedDay:
    """The depot this workstation runs, today's day there, and the demo orders seeded."""

    depot: Depot
    day: DayInput
    seeded: int = 0


def is_demo_depot(settings: Settings, depot_id: str) -> bool:
    from app.simulator.demo_day import DEPOT_ID  # the simulator loads when a demo runs

    return settings.demo and depot_id == DEPOT_ID


def open_depot_day(
    source: Store, settings: Settings, *, may_seed: bool, actor: str
) -> OpenedDay | None:
    """The configured depot's (else the first depot's) day as of today on its clock;
    None when the database has no depot (and seeding is off or not allowed here)."""
    seeded = 0
    with source.session() as session:
        if may_seed:  # desks starting together: one seeds, the others find it seeded
            serialize(session, "dispatch:seed-demo")
        depots = repository.list_depots(session)
        if not depots and settings.demo and may_seed:
            begin_command(session, "import", actor)  # PostgreSQL: a supervisor's
            seeded = _seed_demo(session, settings.demo_seed, actor)
            depots = repository.list_depots(session)
    if not depots:
        return None
    # The configured depot; else the demo's main depot when it is there; else the first.
    fallback = next((d for d in depots if is_demo_depot(settings, d.id)), depots[0])
    depot = next((d for d in depots if d.id == settings.depot_id), fallback)
    today = depot_today(depot.timezone)
    with source.session() as session:
        if may_seed:
            serialize(session, "dispatch:seed-demo")
        day = repository.load_day(session, depot.id, today)
        if not day.orders and is_demo_depot(settings, depot.id) and may_seed:
            begin_command(session, "import", actor)  # PostgreSQL: a supervisor's
            seeded = _seed_demo(session, settings.demo_seed, actor)
            day = repository.load_day(session, depot.id, today)
    return OpenedDay(depot, day, seeded)


def depot_today(timezone: str) -> date:
    """Today on a depot's clock: the day a desk opens (a desk started after the depot's
    midnight opens the new day)."""
    return datetime.now(ZoneInfo(timezone)).date()


def load_day(store: Store, depot_id: str, day: date) -> DayInput:
    with store.read_session() as session:
        return repository.load_day(session, depot_id, day)


def _seed_demo(session, seed: int, actor: str) -> int:
    """The demo depot's day and its neighbours' (for the control tower): main orders."""
    from app.simulator.demo_day import generate_demo_day, generate_demo_depots

    demo = generate_demo_day(seed)
    log.info("seeding the demo day: %d orders, %d vehicles", len(demo.orders), len(demo.vehicles))
    repository.upsert_day(session, demo, actor=actor)
    for other in generate_demo_depots(seed, demo.day):
        repository.upsert_day(session, other, actor=actor)
    return len(demo.orders)


def list_depot_choices(store: Store) -> list[tuple[str, str]]:
    """(id, name) of every depot in the store."""
    with store.read_session() as session:
        return [(d.id, d.name) for d in repository.list_depots(session)]


def likely_depot(store: Store, settings: Settings) -> str:
    """The depot a new desk most likely runs: one whose today (on its own clock) is planned,
    the demo's first; else the demo's depot when it is there; else the first with orders
    today; else "" (no depot)."""
    from app.store.repository_plan import route_versions

    with store.read_session() as session:
        depots = repository.list_depots(session)
        depots.sort(key=lambda d: not is_demo_depot(settings, d.id))  # stable: then by id
        todays = {d.id: depot_today(d.timezone) for d in depots}
        for d in depots:
            if route_versions(session, d.id, todays[d.id]):
                return d.id
        if depots and is_demo_depot(settings, depots[0].id):
            return depots[0].id
        for d in depots:
            if repository.count_day_orders(session, d.id, todays[d.id]):
                return d.id
    return ""


def set_depot_travel(store: Store, depot_id: str, travel: str, *, actor: str) -> Depot:
    """Store the depot's travel source (checked: ``roads:NAME``, ``osrm:URL``,
    ``straight[:DETOUR]`` or empty), as an import of the depot row would; the depot after."""
    from dataclasses import replace

    from app.travel.choose import TravelSource

    text = TravelSource.parse(travel).text()  # ValueError with the reason
    with store.session() as session:
        depot = next((d for d in repository.list_depots(session) if d.id == depot_id), None)
        if depot is None:
            raise ValueError(f"there is no depot {depot_id!r} in this database")
        begin_command(session, "import", actor)  # PostgreSQL: a supervisor's
        changed = replace(depot, travel=text)
        repository.upsert_depots(session, [changed], actor=actor)
    return changed


@dataclass(frozen=True)
class OtherDepot:
    """Another depot as a desk last read it: its name and the version of its plan of the
    day (None: no plan), which a move of an order there carries (``read_at`` None: this
    desk never read it)."""

    depot_id: str
    name: str
    plan_version: int | None
    read_at: datetime | None

    @property
    def known(self) -> bool:
        return self.read_at is not None

    def label(self, now_read: bool, tz: ZoneInfo | None = None) -> str:
        """``Salt Lake North (SLC-N) · plan v4`` (``· no plan yet``; offline ``· plan v4
        as read 10:42`` or ``· plan not known offline``)."""
        head = f"{self.name} ({self.depot_id})"
        if not self.known:
            return f"{head} · plan not known offline"
        plan = "no plan yet" if self.plan_version is None else f"plan v{self.plan_version}"
        if now_read or self.read_at is None:
            return f"{head} · {plan}"
        return f"{head} · {plan} as read {self.read_at.astimezone(tz):%H:%M}"


class DepotPlans:
    """The other depots' plans of a day as this desk reads them from the database every
    desk shares (``store_of``: the shared one, else the desk's own): what a supervisor sees
    when moving an order to another depot. When it cannot be reached, the last read stays
    (names from ``local``)."""

    def __init__(self, store_of: Callable[[], Store], local: Store) -> None:
        self._store_of = store_of
        self._local = local
        self._last: dict[tuple[date, str], tuple[int | None, datetime]] = {}

    def read(self, day: date, exclude: str = "") -> tuple[list[OtherDepot], bool]:
        """(every other depot with its plan version, whether read just now)."""
        try:
            store = self._store_of()
            with store.read_session() as s:
                depots = repository.list_depots(s)
                versions = repository.plan_versions(s, day)
        except Exception as exc:
            from app.sync.offline import is_unreachable

            if not is_unreachable(exc):
                raise
            log.info("other depots' plans not read (offline): %s", exc)
            with self._local.read_session() as s:
                depots = repository.list_depots(s)
            out = []
            for d in depots:
                if d.id == exclude:
                    continue
                version, at = self._last.get((day, d.id), (None, None))
                out.append(OtherDepot(d.id, d.name, version, at))
            return out, False
        now = datetime.now(UTC)
        for d in depots:
            self._last[(day, d.id)] = (versions.get(d.id), now)
        return [OtherDepot(d.id, d.name, versions.get(d.id), now)
                for d in depots if d.id != exclude], True  # fmt: skip
