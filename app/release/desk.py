"""Release control for one depot's day, without a window: the gate, the commands, what the
dock and the drivers say, and the routes to publish.

``ReleaseDesk`` is what the window's service and ``python main.py release`` share. Every
write is a :class:`~app.release.commands.ReleaseCommand` handed to a ``writer``: by default
through the one command applier (``app.store.commands``, as an outbox command of kind
``release_control``) on the store in one transaction; with a shared database applied to
the local copy and queued in the outbox for the shared one (``applier_writer``). Publishing is reconciliation, not a side effect of a
command: every released route whose content differs from what its driver was last sent
(or that was never sent) gets a message with a higher version; a recalled route gets a
withdrawal. So a release while the broker is away is sent when it is back, and every
accepted change to a released route reaches the driver however it was made (drag,
re-plan, undo, another desk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from app.release import planning
from app.release.commands import (
    AUDIT_ENTITY,
    BEFORE_RELEASE,
    MARK_LOADED,
    OVERRIDE,
    RECALL,
    RELEASE,
    SET_STATUS,
    ReleaseCommand,
    apply_release_command,
)
from app.release.gate import (
    GATE_MATRIX_MAX_POINTS,
    DayGate,
    RouteLegs,
    VehicleSeen,
    day_gate,
    day_points,
)
from app.release.messages import (
    RouteMessage,
    day_start,
    is_owntracks_key,
    owntracks_topic,
    owntracks_waypoints,
    route_message,
)
from app.store import Store, repository
from app.store import repository_release as rel
from app.store.changelog import change_mark, changes_between
from app.store.repository_exceptions import ENTITY as EXCEPTION_ENTITY
from app.store.repository_rules import FIRING_ENTITY
from app.sync.commands import EXCEPTION_STATE
from engine.model import DayInput, Plan, RouteStatus
from engine.planning import DayContext, Snapshot, context
from engine.release import CHECKS, GateParams, Loading, punctuality

log = logging.getLogger(__name__)

Writer = Callable[[ReleaseCommand], dict[str, int]]
ROLES = ("dispatcher", "supervisor")
#: Messages recorded as sent per transaction (``ReleaseDesk.record_sent``).
RECORD_PER_WRITE = 100


class NotAllowed(PermissionError):
    """The user's role may not do this; the message says who may."""


def store_writer(store: Store) -> Writer:
    """Apply each command to ``store`` in its own transaction."""

    def write(cmd: ReleaseCommand) -> dict[str, int]:
        with store.session() as session:
            return apply_release_command(session, cmd)

    return write


def applier_writer(store: Store, submit: Callable[[Any], None] | None = None) -> Writer:
    """Each command through the one command applier as an outbox command (kind
    ``release_control``): with ``submit`` (a shared database) applied to the local copy and
    queued for the shared one; without, applied to ``store``. Returns the versions of the
    routes it changed (a transition already past changes nothing)."""
    from datetime import date as _date

    from app.sync.commands import apply_command, release_command

    def versions(ids: Iterable[str]) -> dict[str, int]:
        out = {}
        with store.read_session() as s:
            for rid in ids:
                try:
                    out[rid] = rel.route_state(s, rid).version
                except KeyError:
                    continue
        return out

    def write(cmd: ReleaseCommand) -> dict[str, int]:
        command = release_command(cmd, _date.fromisoformat(cmd.day))
        if submit is None:
            with store.session() as session:
                return apply_command(session, command)
        before = versions(cmd.routes)
        submit(command)
        after = versions(cmd.routes)
        if cmd.kind == SET_STATUS:
            return {rid: v for rid, v in after.items() if v != before.get(rid)}
        return after

    return write


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release did: routes released (with their new versions) and those refused,
    each with why."""

    released: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    command_id: str = ""


@dataclass(frozen=True)
class Sent:
    """One publication: the route message and the OwnTracks commands that went with it."""

    message: RouteMessage
    owntracks: tuple[tuple[str, bytes], ...] = ()


class ReleaseDesk:
    """One user's release control over ``depot_id``'s ``day`` in ``store``."""

    def __init__(
        self,
        store: Store,
        *,
        depot_id: str,
        day: date,
        actor: str,
        role: str,
        travel: Any = None,
        writer: Writer | None = None,
        params: GateParams | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, got {role!r}")
        self.store, self.depot_id, self.day = store, depot_id, day
        self.actor, self.role = actor, role
        self.travel = travel
        self.writer = writer or applier_writer(store)
        self.params = params or GateParams()
        self._ctx: tuple[tuple, DayInput, DayContext] | None = None  # (plan key, day, context)
        self._ctx_lock = threading.Lock()
        self._legs: tuple[int, RouteLegs] | None = None
        #: (publications mark, route ids read, route id -> last message, route id -> what
        #: a driver would notice of it, encoded): see last_sent
        self._last_sent: tuple[
            tuple[int, int], frozenset[str], dict[str, rel.Publication], dict[str, bytes]
        ] = ((-1, -1), frozenset(), {}, {})
        self.max_points = GATE_MATRIX_MAX_POINTS
        #: The store's marks when the last reconciliation found nothing due: see due_messages
        self._nothing_due_at: tuple | None = None

    # -- reading the day -----------------------------------------------------------------
    def load(self) -> tuple[DayInput, Plan | None, dict[str, int]]:
        """The day, its plan and the plan's route versions, as stored now."""
        with self.store.read_session() as s:
            day = repository.load_day(s, self.depot_id, self.day)
            plan = repository.load_plan(s, self.depot_id, self.day)
            versions = repository.route_versions(s, self.depot_id, self.day)
        return day, plan, versions

    def context(self, day: DayInput, plan: Plan) -> DayContext:
        """An engine context for evaluating the plan's routes from the depot (built once
        per day and set of orders: the travel matrices are the expensive part). The same
        day read again from the store (the slot plan reads it) is the same day: the key
        is what the day holds, not which object holds it. Thread-safe: a warm-up on a
        worker (``warm``) and a person's dialog wait for one build."""
        key = (plan.id, tuple(sorted(o for r in plan.routes for o in r.order_ids)))
        with self._ctx_lock:
            held = self._ctx
            if held is not None and held[0] == key and _same_day(held[1], day):
                return held[2]
            from engine.travel import HaversineTravelModel

            empty = Plan(plan.id, plan.depot_id, plan.day)
            try:
                ctx = context(Snapshot(day, empty), self.travel or HaversineTravelModel(),
                              self.depot_id)  # fmt: skip
            except ValueError as exc:  # e.g. a point off the street network: still check
                log.warning("release gate: travel times by straight line (%s)", exc)
                ctx = context(Snapshot(day, empty), HaversineTravelModel(), self.depot_id)
            self._ctx = (key, day, ctx)
            return ctx

    def is_large(self, day: DayInput) -> bool:
        """Whether the gate of ``day`` evaluates each route on its own legs."""
        return day_points(day, self.depot_id) > self.max_points

    def gate_context(self, day: DayInput, plan: Plan) -> DayContext | RouteLegs:
        """What the gate evaluates routes with: the whole-day context on a day of at most
        ``max_points`` points, else each route on its own legs (a 2,000-vehicle day would
        need an all-pairs matrix of 24,000 points, several GB)."""
        if not self.is_large(day):
            return self.context(day, plan)
        if self._legs is not None and self._legs[0] == id(day):
            return self._legs[1]
        from engine.travel import HaversineTravelModel

        legs = RouteLegs(day, self.travel or HaversineTravelModel(), self.depot_id, plan,
                         fallback=HaversineTravelModel())  # fmt: skip
        self._legs = (id(day), legs)
        return legs

    def records(self, plan: Plan) -> tuple[dict[str, Loading], dict[str, dict[str, Any]]]:
        """Loading per route and the overrides that still hold, from the store."""
        orders = {r.id: r.order_ids for r in plan.routes if r.stops}
        with self.store.read_session() as s:
            return rel.loading_states(s, orders), rel.load_overrides(s, orders)

    def gate(
        self,
        *,
        now: datetime,
        day: DayInput | None = None,
        plan: Plan | None = None,
        seen: Mapping[str, VehicleSeen] | None = None,
        ctx: DayContext | RouteLegs | None = None,
    ) -> DayGate:
        """Every route's gate and every wave's, at ``now`` (the stored day and plan unless
        given; pass ``ctx`` to reuse a context built elsewhere)."""
        if day is None or plan is None:
            day, plan, _versions = self.load()
        if plan is None:
            return DayGate(now)
        loading, overrides = self.records(plan)
        if ctx is None:
            ctx = self.gate_context(day, plan)
        return day_gate(day, plan, ctx, now=now, loading=loading, overrides=overrides,
                        seen=seen, params=self.params)  # fmt: skip

    # -- commands ------------------------------------------------------------------------
    def _command(self, kind: str, routes: Mapping[str, int | None], at: datetime,
                 **extra: Any) -> ReleaseCommand:  # fmt: skip
        return ReleaseCommand(kind, self.depot_id, self.day.isoformat(), self.actor, self.role,
                              at, dict(routes), **extra)  # fmt: skip

    def release(
        self,
        route_ids: Iterable[str],
        *,
        now: datetime,
        gate: DayGate | None = None,
        wave: str = "",
        reason: str = "",
    ) -> ReleaseOutcome:
        """Release the green routes among ``route_ids`` (one command); the others are
        refused, each with the checks that stop it. ``gate``: the gate the user saw
        (default: checked now)."""
        day, plan, versions = self.load()
        if plan is None:
            return ReleaseOutcome(refused={rid: "no plan for the day" for rid in route_ids})
        gate = gate or self.gate(now=now, day=day, plan=plan)
        go: dict[str, int | None] = {}
        refused: dict[str, str] = {}
        for rid in route_ids:
            g = gate.routes.get(rid)
            if g is None:
                refused[rid] = "not a route with stops of today's plan"
            elif g.status.is_released:
                refused[rid] = f"already {g.status.label}"
            elif not g.go:
                refused[rid] = "; ".join(f"{c.name}: {c.what}" for c in g.red)
            else:
                go[rid] = versions.get(rid)
        if not go:
            return ReleaseOutcome(refused=refused)
        cmd = self._command(RELEASE, go, now, wave=wave, reason=reason)
        after = self.writer(cmd)
        log.info("%s released %s", self.actor, ", ".join(sorted(after)))
        return ReleaseOutcome(after, refused, cmd.key)

    def release_wave(
        self, wave: str, *, now: datetime, gate: DayGate | None = None
    ) -> ReleaseOutcome:
        """Release every green route of ``wave`` that is not released yet."""
        gate = gate or self.gate(now=now)
        ids = [g.route_id for g in gate.wave_routes(wave) if not g.status.is_released]
        if not ids:
            known = ", ".join(sorted(gate.waves)) or "none"
            return ReleaseOutcome(refused={wave: f"no route of wave {wave} to release "
                                                 f"(waves: {known})"})  # fmt: skip
        return self.release(ids, now=now, gate=gate, wave=wave)

    def recall(
        self, route_ids: Iterable[str], *, now: datetime, reason: str = ""
    ) -> dict[str, int]:
        """Take released routes back (to ready): their drivers get a withdrawal."""
        _day, _plan, versions = self.load()
        routes = {rid: versions.get(rid) for rid in route_ids}
        return self.writer(self._command(RECALL, routes, now, reason=reason))

    def mark_loaded(self, route_id: str, *, now: datetime, reason: str = "") -> dict[str, int]:
        """A person checked the load: the route counts as loaded (its orders as stored)."""
        _day, plan, versions = self.load()
        route = next((r for r in plan.routes if r.id == route_id), None) if plan else None
        if route is None:
            raise KeyError(f"no route {route_id!r} in today's plan")
        if route.status.is_released:
            raise ValueError(f"route {route_id} is already {route.status.label}")
        return self.writer(self._command(MARK_LOADED, {route_id: versions.get(route_id)}, now,
                                         orders=route.order_ids, dock_id=route.dock_id or "",
                                         reason=reason))  # fmt: skip

    def override(self, route_id: str, check: str, reason: str, *, now: datetime) -> dict[str, int]:
        """Let a red check of a route pass (supervisor; the reason is kept in the change
        log and holds while the route serves the same orders)."""
        if self.role != "supervisor":
            raise NotAllowed(f"overriding the gate is a supervisor action; {self.actor} works "
                             f"as {self.role}. Ask a supervisor.")  # fmt: skip
        if check not in CHECKS:
            raise ValueError(f"check {check!r}: expected one of {', '.join(CHECKS)}")
        if not reason.strip():
            raise ValueError("an override needs a written reason")
        _day, plan, versions = self.load()
        route = next((r for r in plan.routes if r.id == route_id), None) if plan else None
        if route is None:
            raise KeyError(f"no route {route_id!r} in today's plan")
        return self.writer(self._command(OVERRIDE, {route_id: versions.get(route_id)}, now,
                                         check=check, reason=reason.strip(),
                                         orders=route.order_ids))  # fmt: skip

    def transition(self, route_id: str, to: RouteStatus, *, at: datetime, source: str,
                   actor: str, reason: str = "") -> dict[str, int]:  # fmt: skip
        """A transition the dock or telemetry drove (no version check; a no-op once past)."""
        cmd = ReleaseCommand(SET_STATUS, self.depot_id, self.day.isoformat(), actor, "system",
                             at, {route_id: None}, to=to.value, source=source,
                             reason=reason)  # fmt: skip
        return self.writer(cmd)

    # -- the dock and the drivers --------------------------------------------------------
    def take_scans(self, scans: Sequence[rel.Scan]) -> list[str]:
        """Store scans (idempotent) and move routes to loading / ready / back to loading as
        they say; returns the routes whose status changed."""
        if not scans:
            return []
        with self.store.session() as s:
            new = rel.add_scans(s, scans)
        if not new:
            return []
        _day, plan, _versions = self.load()
        if plan is None:
            return []
        routes = {r.id: r for r in plan.routes}
        touched = {sc.route_id for sc in new if sc.route_id in routes}
        loading, _overrides = self.records(plan)
        last: dict[str, datetime] = {}
        for sc in new:
            last[sc.route_id] = max(last.get(sc.route_id, sc.ts), sc.ts)
        changed = []
        for rid in sorted(touched):
            route, state = routes[rid], loading[rid]
            to = None
            if state.complete and route.status in (RouteStatus.PLANNED, RouteStatus.LOADING):
                to = RouteStatus.READY
            elif (not state.complete and route.status is RouteStatus.READY) or (
                state.scanned and route.status is RouteStatus.PLANNED
            ):
                to = RouteStatus.LOADING
            if to is not None:
                dock = state.dock_id or route.dock_id or "the dock"
                why = f"dock {dock}: {state.scanned} of {state.expected} scanned"
                after = self.transition(rid, to, at=last[rid], source="dock",
                                        actor=self._relayed("dock"), reason=why)  # fmt: skip
                if after:
                    changed.append(rid)
        return changed

    def _relayed(self, device: str) -> str:
        """The actor of a change a device reported (a dock scanner, a vehicle's tracker) and
        this desk stored: the desk's person, marked as relayed (``dock:ann@desk-1``). A device
        is not a database user, so naming it as the actor would be refused as forged by a
        shared database; the device itself is named in the transition's reason."""
        return f"{device}:{self.actor}"

    def take_acks(self, acks: Sequence[rel.Ack]) -> list[rel.Ack]:
        """Store drivers' acknowledgements (idempotent); returns the new ones."""
        if not acks:
            return []
        with self.store.session() as s:
            return rel.add_acks(s, acks)

    def follow_fleet(self, plan: Plan, seen: Mapping[str, tuple[float, float, float]],
                     stop_done: Mapping[str, float], *,
                     depart_radius_m: float = 300.0) -> list[str]:  # fmt: skip
        """Routes on the road from their vehicle's first fix away from the depot (``seen``:
        vehicle -> (lat, lon, epoch s)), completed when every stop is done (``stop_done``:
        order id -> epoch s). Returns the routes whose status changed."""
        from engine.geo import haversine_m

        with self.store.read_session() as s:  # the depot only: the whole day is 4,000+ rows
            depot = repository.load_depot(s, self.depot_id).location
        changed = []
        for r in plan.routes:
            if not r.stops:
                continue
            fix = seen.get(r.vehicle_id)
            if r.status.rank < RouteStatus.ACTIVE.rank and fix is not None:
                lat, lon, ts = fix
                if haversine_m(depot.lat, depot.lon, lat, lon) > depart_radius_m:
                    why = f"{r.vehicle_id} tracker: left the depot" + (
                        "" if r.status.is_released else " before release"
                    )
                    if self.transition(r.id, RouteStatus.ACTIVE, at=_dt(ts), source="telemetry",
                                       actor=self._relayed("tracker"), reason=why):  # fmt: skip
                        changed.append(r.id)
            elif r.status is RouteStatus.ACTIVE and all(s.order_id in stop_done for s in r.stops):
                at = _dt(max(stop_done[s.order_id] for s in r.stops))
                if self.transition(r.id, RouteStatus.COMPLETED, at=at, source="telemetry",
                                   actor=self._relayed("tracker"),
                                   reason=f"{r.vehicle_id} tracker: every stop served"):  # fmt: skip
                    changed.append(r.id)
        return changed

    # -- what the drivers get ------------------------------------------------------------
    def due_messages(self, *, now: datetime | None = None) -> list[Sent]:
        """Every message the drivers' devices should get now (see the module docstring).

        Whether anything is due depends only on what is stored (the day, the plan and its
        route versions, the messages recorded as sent), and every change to the day and
        the plan is logged: while the change log and the sent messages stand where they
        stood when nothing was due, nothing is due still, and the day is not read again.
        The release loop asks every 5 s; reading a 2,000-route day and drafting every
        released route's message each time made some 0.1-0.3 million objects a time, and
        Python's allocator kept the room they took."""
        held = self._nothing_due_at
        with self.store.read_session() as s:
            marks = (change_mark(s), rel.publications_mark(s))
            if held is not None and marks != held and marks[1] == held[1]:
                # Most changes of a live day cannot make a message due (the rules' exceptions,
                # routes going on the road): 2,000 vans' day moves the log every second.
                changes = changes_between(s, held[0], marks[0])
                if changes is not None and not any(_may_change_messages(*c) for c in changes):
                    self._nothing_due_at = marks
                    return []
        if marks == held:
            return []
        day, plan, versions = self.load()
        due = [] if plan is None else self.messages_for(day, plan, versions, now=now)
        self._nothing_due_at = None if due else marks
        return due

    def messages_for(self, day: DayInput, plan: Plan, versions: Mapping[str, int], *,
                     now: datetime | None = None) -> list[Sent]:  # fmt: skip
        depot = day.depots[0]
        orders = {o.id: o for o in day.orders}
        vehicles = {v.id: v for v in day.vehicles}
        drivers = {d.id: d for d in day.drivers}
        ids = [r.id for r in plan.routes]
        with self.store.read_session() as s:
            last, contents = self._read_sent(s, ids)
            devices = _owntracks_devices(s)
        now = now or datetime.now(UTC)
        out = []
        for route in plan.routes:
            sent = last.get(route.id)
            live = route.status.is_released and route.status is not RouteStatus.COMPLETED
            recalled = route.status in BEFORE_RELEASE and sent is not None and sent.kind == "route"
            if not live and not recalled:
                continue
            kwargs: dict[str, Any] = dict(
                depot=depot, orders=orders, vehicle=vehicles.get(route.vehicle_id),
                driver=drivers.get(route.driver_id) if route.driver_id else None,
                published_at=now)  # fmt: skip
            draft = route_message(route, 0, withdrawn=recalled, **kwargs)
            if sent is not None and contents.get(route.id) == _content_key(draft.body):
                continue
            version = max(versions.get(route.id, 0), (sent.version + 1) if sent else 0)
            message = route_message(route, version, withdrawn=recalled, **kwargs)
            waypoints = owntracks_waypoints(
                message.body, day_start=day_start(day.day, depot.timezone),
                previous_stops=sent.stops if sent else 0,
            )  # fmt: skip
            keys = devices.get(route.vehicle_id, ())
            out.append(Sent(message, tuple((owntracks_topic(k), waypoints) for k in keys)))
        return out

    def last_sent(self, s: Any, route_ids: Sequence[str]) -> dict[str, rel.Publication]:
        """route id -> the newest message sent for it, read from the store in session
        ``s`` only when a message was recorded since the last read (by any workstation)
        or other routes are asked for. The release loop asks every 5 s: decoding every
        route's last message each time (2,000 routes: some 10 MB of JSON a minute) only
        churned the heap. The messages are shared: read them, never change them. Their
        ``payload`` is left empty: what a driver would notice of each is kept encoded
        instead (2,000 routes' messages held as dicts were some 11 MB all day)."""
        return self._read_sent(s, route_ids)[0]

    def _read_sent(
        self, s: Any, route_ids: Sequence[str]
    ) -> tuple[dict[str, rel.Publication], Mapping[str, bytes]]:
        """(``last_sent``, route id -> ``_content_key`` of that message)."""
        mark = rel.publications_mark(s)
        wanted = frozenset(route_ids)
        held_mark, held_ids, held, contents = self._last_sent  # swapped whole (threads)
        if mark == held_mark and wanted <= held_ids:
            return {rid: held[rid] for rid in route_ids if rid in held}, contents
        read = rel.last_publications(s, route_ids)
        contents = {rid: _content_key(p.payload) for rid, p in read.items()}
        last = {rid: replace(p, payload={}) for rid, p in read.items()}
        self._last_sent = (mark, wanted, last, contents)
        return last, contents

    def record_sent(self, sent: Sequence[Sent]) -> None:
        """Remember what reached the broker (the next reconciliation starts from it), in
        transactions of ``RECORD_PER_WRITE`` messages: on SQLite one transaction writes at
        a time, and the 2,000 routes of a large day's first release in one held every
        other writer (the window's among them) for some 11 s. A part that fails leaves
        the rest unrecorded: they are sent again, as all of them were before."""
        for first in range(0, len(sent), RECORD_PER_WRITE):
            with self.store.session() as s:
                for item in sent[first : first + RECORD_PER_WRITE]:
                    m = item.message
                    rel.record_publication(
                        s, rel.Publication(m.route_id, m.vehicle_id, m.version, m.kind,
                                           datetime.fromisoformat(m.body["published_at"]),
                                           m.stops, m.body), m.topic)  # fmt: skip

    # -- on-time dispatch ----------------------------------------------------------------
    def punctuality(self):
        """Per route and per wave: released and left against the planned departure."""
        with self.store.read_session() as s:
            records = rel.dispatch_records(s, self.depot_id, self.day)
        return punctuality(records)

    def slot_plan(self, *, now: datetime) -> tuple[Plan, Any] | None:
        """The day's routes with dock slots and departures following them (routes whose
        loading started, or that are released, keep theirs); None without a plan."""
        day, plan, _versions = self.load()
        if plan is None:
            return None
        ctx = self.context(day, plan)
        loading, _overrides = self.records(plan)
        started = {rid: state.scanned > 0 for rid, state in loading.items()}
        started.update({r.id: True for r in plan.routes if r.status is not RouteStatus.PLANNED})
        timed = planning.slot_day(ctx, plan, day, started=started)
        return timed.plan, timed


#: Changes that never make a route message due once none was: the rules' exceptions and
#: firings, and the audit rows of route status changes (their own rows say what changed)
#: and of exceptions acknowledged or resolved.
_NO_MESSAGE_ENTITIES = frozenset({EXCEPTION_ENTITY, FIRING_ENTITY})
_NO_MESSAGE_COMMANDS = frozenset({SET_STATUS, EXCEPTION_STATE})
#: A live route (one its driver has) going on the road or completed: its message stays
#: what it was (a completed route is not sent again, nor withdrawn).
_STILL_LIVE_FROM = frozenset({RouteStatus.RELEASED.value, RouteStatus.ACTIVE.value})
_STILL_LIVE_TO = frozenset({RouteStatus.ACTIVE.value, RouteStatus.COMPLETED.value})


def _may_change_messages(entity: str, before: Mapping[str, Any] | None,
                         after: Mapping[str, Any] | None) -> bool:  # fmt: skip
    """Whether a change in the change log may make a route message due (when in doubt,
    yes: the day is read again and the messages drafted)."""
    if entity in _NO_MESSAGE_ENTITIES:
        return False
    if entity == rel.STATUS_ENTITY:
        return not ((before or {}).get("status") in _STILL_LIVE_FROM
                    and (after or {}).get("status") in _STILL_LIVE_TO)  # fmt: skip
    if entity == AUDIT_ENTITY:
        return (after or {}).get("command") not in _NO_MESSAGE_COMMANDS
    return True


def _content(body: Mapping[str, Any]) -> Any:
    """What a driver would notice changing in a route message (not its version, status
    on the road, or when it was sent)."""
    skip = {"version", "published_at"}
    out = {k: v for k, v in body.items() if k not in skip}
    if out.get("status") != "withdrawn":
        out["status"] = "route"
    out["stops"] = [{k: v for k, v in stop.items() if k != "status"} for stop in body["stops"]]
    return out


_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def _content_key(body: Mapping[str, Any]) -> bytes:
    """``_content`` of a route message as compact JSON, its keys sorted: equal for a
    message as sent and as read back from the store."""
    return _encode_sorted(_content(body))


def _owntracks_devices(session: Any) -> dict[str, tuple[str, ...]]:
    from app.telemetry.persist import load_device_map

    out: dict[str, list[str]] = {}
    for key, vid in load_device_map(session).items():
        if is_owntracks_key(key):
            out.setdefault(vid, []).append(key)
    return {vid: tuple(sorted(keys)) for vid, keys in out.items()}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _same_day(a: DayInput, b: DayInput) -> bool:
    """Whether two reads of a day hold the same day (one object: at once)."""
    return a is b or (a.day == b.day and a.depots == b.depots and a.vehicles == b.vehicles
                      and a.drivers == b.drivers and a.orders == b.orders)  # fmt: skip
