"""The one command applier: every change of a day's plan, on the local copy or the shared
database, goes through ``apply`` in the caller's transaction.

``apply(session, command)`` runs, in this order and in one transaction:

1. the begin hooks (``add_begin_hook``): checks every command must pass before anything is
   read, e.g. a database-side check of the actor's role for the command's kind;
2. the handler registered for ``command.kind`` (``register``): it reads what is stored,
   checks the versions it was based on with ``check_versions`` (the one version check) and
   writes; it returns the day before and after as an ``Applied``;
3. the day's invariants (``change_violations``): an order is on at most one route of the
   day or in the unassigned list, never both and never twice; a served stop never moves; a
   locked stop stays on its vehicle (unless the command unlocks it); no order is dropped
   without being put in the unassigned list (unless the command takes it out of the day).

A broken command raises ``CommandRefused`` (``InvariantViolation`` for step 3) with its
reason and the caller's transaction rolls back: it is refused whole, never half stored.

How to add a command kind: a frozen dataclass with ``kind``, ``depot_id``, ``day``,
``actor`` and ``key``; a handler ``(session, command) -> Applied`` that reads the stored
plan (``stored_plan``), calls ``check_versions`` with the versions the command was made
from, writes through ``app.store.repository`` and returns ``Applied(before, after, ...)``;
then ``register(KIND, handler)`` once at import of the module defining it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.store import repository_plan
from app.store.errors import StaleVersionError
from engine.model import Plan, Route, Stop, StopStatus, Unassigned


class CommandRefused(ValueError):
    """The command cannot be done as asked (locked or served stops, bad input); says why."""


class InvariantViolation(CommandRefused):
    """The command would leave the day broken (an order twice, a served stop moved ...)."""

    def __init__(self, kind: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{kind!r} refused, nothing was stored: {shown}{more}")


class StaleRouteError(StaleVersionError):
    """A route on screen is not what is stored any more: someone else changed it since."""

    def __init__(self, route_id: str, actual_version: int | None) -> None:
        super().__init__("route", route_id, None, actual_version)
        Exception.__init__(
            self,
            f"route {route_id!r} was changed by someone else since this plan was shown "
            f"(stored version {actual_version}). Reload it and try again.",
        )


class StaleDepotPlanError(StaleVersionError):
    """An order moved to another depot's day, but that depot's plan of the day is not at the
    version the person saw when choosing to move it: someone changed it since."""

    def __init__(self, depot_id: str, day: date, seen: int | None, now: int | None) -> None:
        super().__init__("plan", f"{depot_id} {day}", seen, now)
        self.depot_id, self.day = depot_id, day
        was = f"version {seen}" if seen is not None else "no plan"
        is_ = f"is at version {now} now" if now is not None else "has no plan now"
        Exception.__init__(
            self,
            f"depot {depot_id}'s plan of {day} was changed by someone else since the move was "
            f"chosen: you saw {was}, it {is_}. Look at that depot's day again and move the "
            "order again if it still fits.",
        )


class DayCommand(Protocol):
    """What every command carries, whatever its kind."""

    @property
    def kind(self) -> str: ...
    @property
    def depot_id(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def actor(self) -> str: ...
    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class CommandContext:
    """What a begin hook sees of a command: who does what to which day."""

    kind: str
    actor: str
    depot_id: str
    day: date
    key: str
    name: str = ""  # what the person did, when the kind says less (``reassign``, ``lock``)


@dataclass(frozen=True)
class Applied:
    """What a handler did: the day's routes and unassigned orders before and after (every
    route of the day, touched or not), the route versions after, and what the
    command allows: stops it unlocks on purpose, orders it takes out of the day.
    ``fresh``: a whole new plan replacing the day's (a lock may then go with its route)."""

    before_routes: tuple[Route, ...]
    before_unassigned: tuple[Unassigned, ...]
    after_routes: tuple[Route, ...]
    after_unassigned: tuple[Unassigned, ...]
    versions: dict[str, int] = field(default_factory=dict)
    unlocked: frozenset[str] = frozenset()
    leaving: frozenset[str] = frozenset()
    fresh: bool = False
    result: Any = None  # anything the handler hands back to its caller


Handler = Callable[[Session, Any], Applied]
BeginHook = Callable[[Session, CommandContext], None]

_HANDLERS: dict[str, Handler] = {}
_BEGIN_HOOKS: list[BeginHook] = []


def register(kind: str, handler: Handler) -> None:
    """Make ``kind`` a command ``apply`` knows (registering a kind twice is a mistake)."""
    if kind in _HANDLERS and _HANDLERS[kind] is not handler:
        raise ValueError(f"command kind {kind!r} is registered already")
    _HANDLERS[kind] = handler


def unregister(kind: str) -> None:
    _HANDLERS.pop(kind, None)


def kinds() -> tuple[str, ...]:
    return tuple(sorted(_HANDLERS))


def add_begin_hook(hook: BeginHook) -> None:
    """Run ``hook(session, context)`` at the start of every command's transaction; it
    raises (e.g. ``CommandRefused``) to refuse the command before anything is written."""
    if hook not in _BEGIN_HOOKS:
        _BEGIN_HOOKS.append(hook)


def remove_begin_hook(hook: BeginHook) -> None:
    if hook in _BEGIN_HOOKS:
        _BEGIN_HOOKS.remove(hook)


def apply(session: Session, command: DayCommand) -> Applied:
    """Apply ``command`` in ``session``'s transaction: begin hooks, its handler (versions
    checked), the day's invariants. Raises ``StaleVersionError`` (a conflict),
    ``CommandRefused`` (with its reason); the caller's transaction then rolls back."""
    handler = _HANDLERS.get(command.kind)
    if handler is None:
        raise CommandRefused(f"command {command.key}: unknown kind {command.kind!r}")
    context = CommandContext(command.kind, command.actor, command.depot_id, command.day,
                             command.key, str(getattr(command, "name", "") or command.kind))  # fmt: skip
    for hook in tuple(_BEGIN_HOOKS):
        hook(session, context)
    applied = handler(session, command)
    problems = change_violations(applied)
    if problems:
        what = str(getattr(command, "label", "") or _kind_text(command.kind))
        raise InvariantViolation(what, problems)
    return applied


def _kind_text(kind: str) -> str:
    return kind.replace("_", " ")


# -- the one version check ------------------------------------------------------------------
def _shape(route: Route | None) -> tuple[Any, ...] | None:
    """What a dispatcher's edit changes in a route: vehicle, driver, order, locks, planned
    times. Stop statuses and actual times come from telemetry and are merged, not compared."""
    if route is None:
        return None
    stops = tuple((s.order_id, s.locked, s.planned_arrival, s.planned_departure)
                  for s in route.stops)  # fmt: skip
    return (route.vehicle_id, route.driver_id, stops)


def check_versions(
    ids: Iterable[str],
    versions: Mapping[str, int],
    base: Mapping[str, int] | None,
    *,
    shown: Sequence[Route] = (),
    stored: Sequence[Route] = (),
    expect: Mapping[str, Route] | None = None,
) -> None:
    """Every route of ``ids`` as the command found it: at its ``base`` version (absent from
    ``base``: the route must not exist now; a route added since is a change too).

    ``base`` None (a plan shown without its versions): the route's content must be as
    ``shown``. ``expect`` (undo and redo): the routes as the command left them; a route at
    another version but with exactly that content passes (an undo of a later command put it
    back). Raises ``StaleVersionError`` naming the first route that moved on."""
    now = {r.id: r for r in stored}
    if base is None:
        before = {r.id: r for r in shown}
        for rid in ids:
            if _shape(before.get(rid)) != _shape(now.get(rid)):
                raise StaleRouteError(rid, versions.get(rid))
        return
    for rid in ids:
        if base.get(rid) == versions.get(rid):
            continue
        if expect is not None and _shape(expect.get(rid)) == _shape(now.get(rid)):
            continue
        raise StaleVersionError("route", rid, base.get(rid), versions.get(rid))


# -- reading the day ------------------------------------------------------------------------
def stored_plan(session: Session, depot_id: str, day: date) -> Plan | None:
    """The day's plan as stored now (None: no plan)."""
    return repository_plan.load_plan(session, depot_id, day)


# -- the day's invariants -------------------------------------------------------------------
def is_history(stop: Stop) -> bool:
    """Served or arrived: the stop stays where it is (a re-plan never moves it)."""
    return stop.status.is_done or stop.status == StopStatus.ARRIVED


def day_violations(routes: Sequence[Route], unassigned: Sequence[Unassigned]) -> list[str]:
    """What breaks "an order is on at most one route of the day, or in the unassigned list,
    never both and never twice" in these routes and unassigned orders."""
    problems: list[str] = []
    where: dict[str, str] = {}
    for route in routes:
        for oid in route.order_ids:
            if oid in where and where[oid] == route.id:
                problems.append(f"order {oid} would be twice on route {route.id}")
            elif oid in where:
                problems.append(f"order {oid} would be on routes {where[oid]} and {route.id}")
            else:
                where[oid] = route.id
    seen: set[str] = set()
    for item in unassigned:
        if item.order_id in where:
            problems.append(
                f"order {item.order_id} would be on route {where[item.order_id]} and in the "
                "unassigned list"
            )
        elif item.order_id in seen:
            problems.append(f"order {item.order_id} would be in the unassigned list twice")
        seen.add(item.order_id)
    return problems


def change_violations(applied: Applied) -> list[str]:
    """The invariants of the day after ``applied``, and of the change itself: served stops
    stay on their route, locked stops on their vehicle, no order dropped."""
    problems = day_violations(applied.after_routes, applied.after_unassigned)
    after: dict[str, tuple[Route, Stop]] = {
        s.order_id: (r, s) for r in applied.after_routes for s in r.stops
    }
    for route in applied.before_routes:
        for stop in route.stops:
            oid = stop.order_id
            now = after.get(oid)
            if is_history(stop):
                if now is None or now[0].id != route.id:
                    where = f"route {now[0].id}" if now else "no route"
                    problems.append(
                        f"stop {oid} was {stop.status} on route {route.id}; a served stop never "
                        f"moves (it would be on {where})"
                    )
                continue
            free = not stop.locked or oid in applied.unlocked or applied.fresh
            if not free and (now is None or now[0].vehicle_id != route.vehicle_id):
                where = f"vehicle {now[0].vehicle_id}" if now else "no route"
                problems.append(
                    f"stop {oid} is locked on vehicle {route.vehicle_id}; it would be on "
                    f"{where} (unlock it first)"
                )
    kept = set(after) | {u.order_id for u in applied.after_unassigned} | applied.leaving
    before = {o for r in applied.before_routes for o in r.order_ids}
    before |= {u.order_id for u in applied.before_unassigned}
    dropped = sorted(before - kept)
    if dropped:
        problems.append(
            f"orders {_ids(dropped)} would leave the plan without being put in the unassigned list"
        )
    return problems


def _ids(ids: Sequence[str], shown: int = 8) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
