"""The dispatcher command service: the one place every plan-changing command goes through.

    service = DispatchService(store, travel, actor="dana@desk-1", role="supervisor", state=state)
    preview = service.preview_reassign(plan, day, ["O7"], "R-V3", now)   # while dragging
    result = service.reassign(plan, day, ["O7"], "R-V3", now)            # on drop: written,
    back = service.apply_undo(state.plan, result.undo)                   # shown once; Ctrl+Z
    ranked = service.suggest(plan, day, "O7", now)                       # move targets
    proposal = service.insert_order(plan, day, urgent_order, now)        # where it fits

With a ``DayState`` the service is its only writer: a command's new plan and its change
record are put there and broadcast once (Anki's OpChanges), as are the day when it opens
(``open_day``), a fresh or stored plan (``show_plan``), the plan as stored after a refused
edit, and telemetry's stop results (``merge_stop_results``). Without one (scripts, tests)
the caller gets the same ``CommandResult`` and shows it where it likes.

The engine's day context is built once and kept current by every command written here
(``ContextCache.apply``), so previews, suggestions and insertions answer in milliseconds.

Roles: moving stops between routes and accepting a fleet-wide re-plan are supervisor
actions (a dispatcher gets :class:`NotAllowed`, and may ``propose`` instead). A re-plan
limited to the routes of one exception (a :class:`ReplanScope` naming the exception and at
most ``EXCEPTION_SCOPE_MAX_ROUTES`` routes, changing nothing else) may be accepted by a
dispatcher. Locking and unlocking stops is open to both roles.

Every command is version-checked against the store: a route changed by someone else since
raises ``StaleVersionError`` and nothing is written; the error carries ``ours`` (the routes
the command wanted) and ``theirs`` (the day's plan as stored now) for the user to choose.
Every command lands in the audit log (see ``app.dispatch.store``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from app.day.state import ChangeSource, DayChanges, DayState
from app.dispatch.preview import (
    ContextCache,
    LateStop,
    PlanningTimes,
    PositionsProvider,
    ReassignPreview,
    RouteImpact,
    preview_reassign,
)
from app.dispatch.replan import replan_job
from app.dispatch.stop_results import keep_stop_results, merge_stop_states
from app.dispatch.store import (
    AuditEntry,
    CommandRecord,
    CommandRefused,
    OrderEdits,
    StaleRouteError,
    VersionBook,
    WriteHook,
    Written,
    read_audit,
    write_routes,
)
from app.release.loaded import AT_DOCK, loaded_orders
from app.store import StaleVersionError, Store, repository
from app.telemetry.state import StopState
from engine.model import DayInput, Order, Plan, Route, Unassigned
from engine.planning import Proposal, Suggestion, suggest_in

log = logging.getLogger(__name__)

#: The whole day's context is built ahead (``DispatchService.warm``) up to this many points
#: (depot, vans, orders), as live ETAs and release control keep whole-day matrices: its two
#: float64 matrices take 16 bytes a pair, so 3,000 points hold about 144 MB for the whole
#: day. A 2,000-van day of 4,000 orders (6,001 points, 576 MB) is not built ahead: held
#: from the start, it took the window from about 770 MB to 1,430 MB (a peak of 1,924 MB
#: while building), against the goal of 600 MB; its first suggestion builds it.
WARM_MAX_POINTS = 3_000

__all__ = [
    "AuditEntry",
    "CommandRecord",
    "CommandRefused",
    "CommandResult",
    "DispatchService",
    "LateStop",
    "NotAllowed",
    "OrderEdits",
    "ReassignPreview",
    "ReplanScope",
    "RouteImpact",
    "StaleRouteError",
    "StaleVersionError",
    "UndoRecord",
    "WriteHook",
    "replan_job",
]

ROLES = ("dispatcher", "supervisor")
EXCEPTION_SCOPE_MAX_ROUTES = 3  # the exception's route(s) and the neighbours taking its stops


class NotAllowed(PermissionError):
    """The user's role may not do this command; the message says who may."""


@dataclass(frozen=True)
class ReplanScope:
    """What a limited re-plan may change: these routes, for this exception."""

    route_ids: frozenset[str]
    exception_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "route_ids", frozenset(self.route_ids))
        if not self.route_ids:
            raise ValueError("re-plan scope: name at least one route")


@dataclass(frozen=True)
class UndoRecord:
    """What ``apply_undo`` needs to put routes back as they were before a command.

    ``base_versions`` are the versions the command left the routes at: when one has moved
    on since and no longer looks as the command left it (``expect``; an undo of a later
    command puts it back), someone else edited it and undo raises ``StaleVersionError``.
    """

    plan_id: str
    routes: tuple[Route, ...]
    base_versions: dict[str, int]
    label: str
    drop: tuple[str, ...] = ()
    unassigned: tuple[Unassigned, ...] | None = None
    whole: bool = False
    supervisor_only: bool = False
    redo: bool = False  # applying it redoes ``label`` (it came from an undo)
    expect: tuple[Route, ...] = ()  # the routes as the command left them
    orders: OrderEdits = field(default_factory=OrderEdits)  # order rows applying it writes
    reverse_orders: OrderEdits = field(default_factory=OrderEdits)  # ... and its reverse

    @property
    def text(self) -> str:
        """What applying it does, for the undo stack: ``Undo Move O7 to V3``."""
        return f"{'Redo' if self.redo else 'Undo'} {self.label}"


@dataclass(frozen=True)
class CommandResult:
    """A command's outcome: the new plan, what changed (broadcast it once), how to undo it."""

    plan: Plan
    changes: DayChanges
    undo: UndoRecord
    label: str
    command_id: str
    versions: dict[str, int] = field(default_factory=dict)
    orders: OrderEdits = field(default_factory=OrderEdits)  # order rows it wrote


def diff_changes(old: Plan, new: Plan, source: ChangeSource) -> DayChanges:
    """The routes and orders whose stops differ between two plans of the day."""
    before = {r.id: r for r in old.routes}
    after = {r.id: r for r in new.routes}
    routes = {rid for rid in before.keys() | after.keys() if before.get(rid) != after.get(rid)}
    stops_b = {s.order_id: (r.id, s) for r in old.routes for s in r.stops}
    stops_a = {s.order_id: (r.id, s) for r in new.routes for s in r.stops}
    orders = {o for o in stops_b.keys() | stops_a.keys() if stops_b.get(o) != stops_a.get(o)}
    orders |= {u.order_id for u in old.unassigned} ^ {u.order_id for u in new.unassigned}
    return DayChanges(routes=frozenset(routes), orders=frozenset(orders), source=source)


class DispatchService:
    """Previews and commands on the day's plan for one user in one role."""

    def __init__(
        self,
        store: Store,
        travel,
        *,
        actor: str,
        role: str,
        positions: PositionsProvider | None = None,
        on_write: WriteHook | None = None,
        state: DayState | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, got {role!r}")
        if not actor:
            raise ValueError("actor: name the user (e.g. dana@desk-1); the audit log needs it")
        self.store, self.actor, self.role = store, actor, role
        #: Service times and travel as plans are made with (learned, once the depot has).
        self.times = PlanningTimes()
        self._contexts = ContextCache(travel, positions, self.times)
        self._book = VersionBook()
        self._replan_bases: list[tuple[Proposal, Plan]] = []
        self._replan_lock = threading.Lock()
        self._on_write = on_write  # e.g. the offline outbox, in the command's transaction
        self.state = state  # the day as the workstation shows it; this service writes it

    # -- plans and versions --------------------------------------------------------------
    def load_plan(self, depot_id: str, day: date) -> Plan | None:
        """The stored plan of the day, with its route versions remembered for commands."""
        with self.store.read_session() as s:
            plan = repository.load_plan(s, depot_id, day)
            versions = repository.route_versions(s, depot_id, day)
        if plan is not None:
            self._book.remember(plan, versions)
        return plan

    def load_day(self, depot_id: str, day: date) -> DayInput:
        """The depot's day as stored now (its open orders, vehicles, drivers)."""
        with self.store.read_session() as s:
            return repository.load_day(s, depot_id, day)

    def remember(self, plan: Plan, versions: Mapping[str, int]) -> None:
        """Record the route versions ``plan`` was read at (when it was loaded elsewhere).
        Plans not remembered are checked by content against the store instead."""
        self._book.remember(plan, versions)

    # -- orders (see app.dispatch.orders) ---------------------------------------------------
    def commit_order_edit(
        self,
        plan: Plan,
        routes: Sequence[Route],
        command: ChangeSource,
        label: str,
        audit: dict,
        *,
        orders: OrderEdits,
        undo_orders: OrderEdits,
    ) -> CommandResult:
        """Write order rows and the routes they change as one undoable command, shown
        (both roles: adding, changing and cancelling orders moves no stop between routes)."""
        if _moves(plan, routes):
            raise CommandRefused(f"{label}: it would move stops between routes")
        return self._shown(lambda: self._commit(plan, routes, command, label, audit,
                                                orders=orders, undo_orders=undo_orders))  # fmt: skip

    def order_exists(self, order_id: str) -> bool:
        """Whether any order of the store (any day, cancelled too) has this id."""
        from app.store.repository_orders import order_row

        with self.store.read_session() as s:
            try:
                order_row(s, order_id)
            except KeyError:
                return False
            return True

    def fresh_order_id(self, prefix: str = "U") -> str:
        """An order id not used in the store yet: ``U-001``, ``U-002``, ..."""
        n = 1
        while self.order_exists(f"{prefix}-{n:03d}"):
            n += 1
        return f"{prefix}-{n:03d}"

    def cancelled_orders(self, depot_id: str, day: date) -> list:
        """The day's cancelled orders (``CancelledOrder``: order, reason, by, at)."""
        from app.store.repository import depot_day_bounds, list_depots
        from app.store.repository_orders import cancelled_orders

        with self.store.read_session() as s:
            depot = next((d for d in list_depots(s) if d.id == depot_id), None)
            if depot is None:
                return []
            start, end = depot_day_bounds(depot.timezone, day)
            return cancelled_orders(s, depot_id, start, end)

    @property
    def queues_commands(self) -> bool:
        """Whether commands also go to an outbox (the desk works on a shared database)."""
        return self._on_write is not None

    def note_replan_base(self, proposal: Proposal, plan: Plan) -> None:
        """``proposal`` was made from ``plan``: accepting it checks what it saw."""
        with self._replan_lock:
            self._replan_bases = [(p, b) for p, b in self._replan_bases if p is not proposal][-7:]
            self._replan_bases.append((proposal, plan))

    def replan_base(self, proposal: Proposal) -> Plan | None:
        with self._replan_lock:
            return next((b for p, b in self._replan_bases if p is proposal), None)

    def versions_of(self, plan: Plan) -> dict[str, int] | None:
        """The route versions ``plan`` was read at, when this service handed it out."""
        return self._book.get(plan)

    def audit(self, limit: int = 200) -> list[AuditEntry]:
        """The newest commands of the audit log, newest first."""
        return read_audit(self.store, limit)

    # -- the day state (this service is its one writer) ---------------------------------
    def open_day(
        self, day: DayInput, depot_id: str, source: ChangeSource = ChangeSource.START
    ) -> Plan | None:
        """Show ``depot_id``'s day with its stored plan (versions remembered); the plan."""
        plan = self.load_plan(depot_id, day.day)
        if self.state is not None:
            self.state.set_day(day, depot_id, plan, source)
        return plan

    def show_plan(
        self, plan: Plan, changes: DayChanges | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> None:  # fmt: skip
        """Show ``plan`` (a fresh plan, or the local copy after a catch-up); with
        ``versions``, commands edit on from them."""
        if versions is not None:
            self._book.remember(plan, versions)
        if self.state is not None:
            self.state.set_plan(plan, changes or DayChanges.all(ChangeSource.PLAN))

    def show_stored_plan(self, fallback: Plan | None = None) -> Plan | None:
        """Show the day's plan as stored now (versions remembered), else ``fallback``."""
        index = self.state.index if self.state is not None else None
        if index is None:
            return None
        plan = self.load_plan(index.depot.id, index.day.day) or fallback
        if plan is not None:
            self.show_plan(plan)
        return plan

    def merge_stop_results(self, stops: Mapping[str, StopState]) -> None:
        """Lay telemetry's stop results over the shown plan (one change record, routes
        whose stops moved on only)."""
        plan = self.state.plan if self.state is not None else None
        if plan is None:
            return
        merged, changed = merge_stop_states(plan, stops)
        if changed:
            # Stop results are laid over the shown plan, not stored by it: the plan edits on
            # from the versions it was shown at (without them, a later status-only write,
            # e.g. release control's, would leave commands half a version book).
            self.show_plan(merged, DayChanges(routes=changed, source=ChangeSource.TELEMETRY),
                           versions=self._book.get(plan))  # fmt: skip

    def _shown(self, command: Callable[[], CommandResult]) -> CommandResult:
        """Run a command and show its result once; a refused stale edit shows the plan as
        stored now (the error carries both versions for the user)."""
        try:
            result = command()
        except StaleVersionError as exc:
            theirs = getattr(exc, "theirs", None)
            if theirs is not None:
                self.show_plan(theirs)
            raise
        if self.state is not None and result.orders and self.state.index is not None:
            orders = result.orders.day_orders(self.state.index.day.orders)
            self.state.set_orders(orders, result.plan, result.changes)
        elif self.state is not None:
            self.state.set_plan(result.plan, result.changes)
        return result

    # -- roles ---------------------------------------------------------------------------
    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def may_accept(self, scope: ReplanScope | None) -> bool:
        """Fleet-wide re-plans need a supervisor; one exception's routes, a dispatcher too."""
        return self.is_supervisor or _dispatcher_may_accept(scope)

    def _require_supervisor(self, what: str, hint: str = "") -> None:
        if not self.is_supervisor:
            raise NotAllowed(
                f"{what} is a supervisor action; {self.actor} works as {self.role}. "
                f"Ask a supervisor{hint}."
            )

    # -- reassign ------------------------------------------------------------------------
    def prepare(self, plan: Plan, day: DayInput, now: datetime | None = None) -> None:
        """Read the live positions and pair the drivers for this plan now, so the first drag
        preview only asks for its routes' legs. Safe to call on a worker thread (e.g. a
        JobRunner job after the plan changes). Builds no matrix over the whole day."""
        self._contexts.routes_context(plan, day, now, ())

    def warm(self, plan: Plan, day: DayInput, now: datetime | None = None) -> bool:
        """Build the whole day's context that suggestions and urgent insertions use, so
        the first of them answers as fast as the next (a worker thread's job, after a new
        plan; from then on it is kept current, ``engine.incremental``). Not on a day whose
        matrices would pass ``WARM_MAX_POINTS`` points (there the first suggestion builds
        it, or says why it cannot). True when built (or kept)."""
        points = 1 + len(day.vehicles) + sum(1 for o in day.orders if o.depot_id == plan.depot_id)
        if points > WARM_MAX_POINTS:
            log.info("whole-day context not built ahead: %d points (at most %d)", points,
                     WARM_MAX_POINTS)  # fmt: skip
            return False
        self._contexts.get(plan, day, now)
        return True

    def use_learned(self, learned: Any) -> None:
        """Previews, suggestions and insertions time stops with the depot's learned service
        times and travel factors (``app.kpis.learn.Learned``; None: the orders' own and the
        street model's), as plans and re-plans do."""
        self.times = PlanningTimes(learned)
        self._contexts.use(self.times)

    def forget_context(self) -> None:
        """Drop the kept engine context (e.g. to read live positions again now)."""
        self._contexts.clear()

    @property
    def context_builds(self) -> int:
        """How often the engine context was built from scratch (commands only update it)."""
        return self._contexts.builds

    def suggest(
        self, plan: Plan, day: DayInput, order_id: str, now: datetime | None = None
    ) -> list[Suggestion]:
        """Other routes for a stop, best first (feasible, then cheapest), from the kept
        context: milliseconds, not a rebuild of the day."""
        return suggest_in(self._contexts.get(plan, day, now), order_id)

    def insert_order(
        self, plan: Plan, day: DayInput, order: Order, now: datetime | None = None
    ) -> Proposal:
        """Where an urgent order fits best (a proposal: nothing is written; accept it with
        ``accept_proposal`` once the order is part of the day)."""
        self._contexts.get(plan, day, now)
        return self._contexts.kept.insert(self.times.order(order))

    def preview_reassign(
        self,
        plan: Plan,
        day: DayInput,
        order_ids: Sequence[str],
        target_route_id: str,
        now: datetime | None = None,
    ) -> ReassignPreview:
        """Where the stops would go on the target route and what it does to every route
        involved; ``blocked`` (and ``summary``) say why a move is refused, ``warnings`` what
        to know first (goods the dock loaded onto the stops' van)."""
        ctx = self._contexts.for_move(plan, day, now, order_ids, target_route_id)
        return preview_reassign(ctx, plan, order_ids, target_route_id,
                                self._loaded(plan, order_ids))  # fmt: skip

    def _loaded(self, plan: Plan, order_ids: Sequence[str]) -> frozenset[str]:
        """Of ``order_ids``, those the dock loaded onto their van (read only when one of
        their routes is at the dock: most drags ask nothing of the store)."""
        at_dock = {r.id for oid in order_ids if (r := plan.route_of(oid)) is not None
                   and r.status in AT_DOCK}  # fmt: skip
        return loaded_orders(self.store, plan, at_dock) if at_dock else frozenset()

    def propose(
        self,
        plan: Plan,
        day: DayInput,
        order_ids: Sequence[str],
        target_route_id: str,
        now: datetime | None = None,
    ) -> ReassignPreview:
        """A move as a proposal for a supervisor (any role; nothing is written)."""
        preview = self.preview_reassign(plan, day, order_ids, target_route_id, now)
        log.info("%s (%s) proposes: %s", self.actor, self.role, preview.summary)
        return preview

    def reassign(
        self,
        plan: Plan,
        day: DayInput,
        order_ids: Sequence[str],
        target_route_id: str,
        now: datetime | None = None,
        *,
        also: WriteHook | None = None,
        label_suffix: str = "",
    ) -> CommandResult:
        """Move the stops onto the target route at the previewed positions (supervisor).
        ``also(session, record)`` writes more in the same transaction (e.g. a proposal
        marked accepted); ``label_suffix`` goes on the label (``(proposed by dana)``)."""
        self._require_supervisor(
            "Moving stops between routes", ", or send it as a proposal (propose)"
        )
        preview = self.preview_reassign(plan, day, order_ids, target_route_id, now)
        if preview.blocked:
            raise CommandRefused("Cannot move: " + "; ".join(preview.blocked))
        target = preview.target
        label = f"Move {', '.join(preview.order_ids)} to {target.vehicle_id if target else ''}"
        audit = {
            "orders": list(preview.order_ids),
            "target_route_id": preview.target_route_id,
            "summary": preview.summary,
        }
        return self._shown(lambda: self._commit(
            plan, preview.routes, ChangeSource.REASSIGN, label + label_suffix, audit,
            supervisor_only=True, also=also))  # fmt: skip

    # -- locks ---------------------------------------------------------------------------
    def set_locked(self, plan: Plan, order_ids: Collection[str], locked: bool) -> CommandResult:
        """Lock (or unlock) stops to their route: a locked stop is not moved by drag or
        re-plan until unlocked. Open to both roles."""
        wanted = set(order_ids)
        missing = sorted(wanted - {o for r in plan.routes for o in r.order_ids})
        if missing:
            raise CommandRefused(f"cannot lock: orders {missing} are on no route of this plan")
        routes = [
            replace(r, stops=tuple(
                replace(s, locked=locked) if s.order_id in wanted else s for s in r.stops))
            for r in plan.routes
            if any(s.order_id in wanted and s.locked != locked for s in r.stops)
        ]  # fmt: skip
        label = f"{'Lock' if locked else 'Unlock'} {', '.join(sorted(wanted))}"
        audit = {"orders": sorted(wanted), "locked": locked}
        source = ChangeSource.LOCK if locked else ChangeSource.UNLOCK
        return self._shown(lambda: self._commit(plan, routes, source, label, audit))

    # -- whole routes: undo, redo, proposals ---------------------------------------------
    def apply_routes(
        self, plan: Plan, new_routes: Sequence[Route], *, reason: str
    ) -> CommandResult:
        """Put ``new_routes`` in place of the plan's routes of the same ids (stops only).
        Moving a stop between routes this way needs a supervisor, as a drag does."""
        if _moves(plan, new_routes):
            self._require_supervisor("Moving stops between routes")
        return self._shown(lambda: self._commit(plan, new_routes, ChangeSource.APPLY, reason,
                           {"reason": reason}, supervisor_only=_moves(plan, new_routes)))  # fmt: skip

    def apply_rule_change(
        self, plan: Plan, new_routes: Sequence[Route], *, rule: str, label: str, audit: dict
    ) -> CommandResult:
        """A standing rule's change as one command in the rule's name (``rule:<id>@v<n>``,
        set by a supervisor): written, audited and queued like a person's, and undoable
        (by a supervisor when it moved stops between routes, as for a drag)."""
        on_routes = {o for r in new_routes for o in r.order_ids}
        placed = [u for u in plan.unassigned if u.order_id in on_routes]
        unassigned = [u for u in plan.unassigned if u.order_id not in on_routes] if placed else None
        moves = _moves(plan, new_routes) or bool(placed)
        return self._shown(lambda: self._commit(
            plan, new_routes, ChangeSource.RULE, label, {"reason": label, **audit},
            unassigned=unassigned, supervisor_only=moves, actor=rule,
        ))  # fmt: skip

    def apply_undo(self, plan: Plan, record: UndoRecord) -> CommandResult:
        """Put back what a command changed (itself version-checked); the result's ``undo``
        is the redo."""
        if record.supervisor_only:
            self._require_supervisor(f"Undoing {record.label!r}")
        if record.plan_id != plan.id:
            raise CommandRefused(f"undo {record.label!r}: it belongs to plan {record.plan_id}")
        return self._shown(lambda: self._commit(
            plan,
            record.routes,
            ChangeSource.REDO if record.redo else ChangeSource.UNDO,
            record.text,
            {"of": record.label},
            undo_label=record.label,
            redo=not record.redo,
            base=record.base_versions,
            expect=record.expect,
            drop=record.drop,
            unassigned=record.unassigned,
            whole=record.whole,
            supervisor_only=record.supervisor_only,
            orders=record.orders,
            undo_orders=record.reverse_orders,
        ))  # fmt: skip

    def accept_proposal(
        self,
        plan: Plan,
        proposal: Proposal,
        *,
        scope: ReplanScope | None = None,
        also: WriteHook | None = None,
        label_suffix: str = "",
    ) -> CommandResult:
        """Accept a re-plan as one undoable command.

        ``scope`` None: a fleet-wide re-plan (supervisor only; every route of the day must
        be as it was). With a scope: only its routes may change (refused otherwise), and a
        dispatcher may accept it when it is one exception's (``may_accept``).
        """
        if not self.may_accept(scope):
            self._require_supervisor(
                "Accepting a fleet-wide re-plan",
                f", or re-plan only one exception's routes (at most {EXCEPTION_SCOPE_MAX_ROUTES})",
            )
        new = proposal.plan
        started = self.replan_base(proposal)
        if started is not None and started.id == plan.id:
            # Judged against the plan it was made from: a route someone changed meanwhile
            # is a conflict to resolve, not overwritten by the proposal's older version.
            plan = started
        if new.id != plan.id or new.day != plan.day:
            raise CommandRefused(f"the proposal is for plan {new.id}, not {plan.id}")
        old = {r.id: r for r in plan.routes}
        changed = [r for r in new.routes if old.get(r.id) != r]
        gone = [rid for rid in old if rid not in {r.id for r in new.routes}]
        if scope is not None:
            # Routes outside the scope are the plan as the re-plan started; stop results
            # that came in since (a delivery) differ from them and are not its changes.
            # Only another stop list outside the scope would be.
            outside = sorted(
                r.id for r in changed
                if r.id not in scope.route_ids
                and (r.id not in old or old[r.id].order_ids != r.order_ids)
            ) + gone  # fmt: skip
            changed = [r for r in changed if r.id in scope.route_ids]
            if outside:
                raise CommandRefused(
                    f"the re-plan changes routes {outside} outside its scope "
                    f"{sorted(scope.route_ids)}; re-plan again"
                )
        label = f"Re-plan ({len(proposal.moved)} moved){label_suffix}"
        audit = {
            "scope": sorted(scope.route_ids) if scope else "fleet",
            "exception_id": scope.exception_id if scope else "",
            "moved": [m.order_id for m in proposal.moved],
            "lateness_s": [proposal.lateness_before_s, proposal.lateness_after_s],
            "distance_m": [proposal.distance_before_m, proposal.distance_after_m],
        }

        def commit(on: Plan) -> CommandResult:
            return self._commit(
                on, changed, ChangeSource.ACCEPT, label, audit, drop=gone,
                unassigned=new.unassigned, whole=True, check_all=scope is None,
                supervisor_only=not _dispatcher_may_accept(scope), also=also,
            )  # fmt: skip

        try:
            return self._shown(lambda: commit(plan))
        except StaleVersionError:
            # A re-plan's routes' versions move on by status alone all day (deliveries merged
            # into the shown plan, release control, the dock, trackers leaving the depot).
            # Checked again by what a re-plan changes — stops, locks, planned times — on the
            # plan shown when it was accepted (a copy: no versions, so compared by content);
            # another desk's edit of those routes is still refused.
            return self._shown(lambda: commit(replace(plan)))

    # -- the one write path --------------------------------------------------------------
    def _commit(
        self,
        plan: Plan,
        routes: Sequence[Route],
        command: ChangeSource,
        label: str,
        audit: dict,
        *,
        base: Mapping[str, int] | None = None,
        drop: Sequence[str] = (),
        unassigned: Sequence[Unassigned] | None = None,
        whole: bool = False,
        check_all: bool = False,
        supervisor_only: bool = False,
        undo_label: str | None = None,
        redo: bool = False,
        expect: Sequence[Route] | None = None,
        orders: OrderEdits | None = None,
        undo_orders: OrderEdits | None = None,
        also: WriteHook | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        base = base if base is not None else self._book.get(plan)
        on_write = self._on_write
        if also is not None:
            outbox = self._on_write

            def on_write(session, record) -> None:
                also(session, record)
                if outbox is not None:
                    outbox(session, record)

        orders, undo_orders = orders or OrderEdits(), undo_orders or OrderEdits()
        if not routes and not drop and not orders:  # nothing to do (locking locked stops)
            return CommandResult(plan, DayChanges(source=command), UndoRecord(plan.id, (), {}, label),
                                 label, "", dict(base or {}))  # fmt: skip
        doc = {"command": command, "role": self.role, "label": label, **audit}
        try:
            written: Written = write_routes(
                self.store, plan, routes, actor=actor or self.actor, audit=doc, base_versions=base,
                drop=drop, unassigned=unassigned, whole=whole, check_all=check_all,
                expect=expect, on_write=on_write, orders=orders,
                local_copy=self._on_write is not None,
            )  # fmt: skip
        except StaleVersionError as exc:
            # Both versions for the user to choose from: what this command wanted, and the
            # day as stored now (remembered with its versions, so a retry on it may pass).
            exc.ours = tuple(routes)  # type: ignore[attr-defined]
            theirs = self.load_plan(plan.depot_id, plan.day)
            if theirs is not None:  # stored now, with the stop results already shown
                kept = keep_stop_results(plan, theirs)
                if kept is not theirs:
                    self._book.remember(kept, self._book.get(theirs) or {})
                theirs = kept
            exc.theirs = theirs  # type: ignore[attr-defined]
            raise
        # The plan read back from the store has no stop results (they are shown, not
        # stored): the served stops stay served in what the command shows.
        written = replace(written, plan=keep_stop_results(plan, written.plan))
        self._book.remember(written.plan, written.versions)
        self._contexts.apply(written.plan)  # the kept engine context follows every command
        undo = UndoRecord(
            plan_id=written.plan.id,
            routes=written.replaced,
            base_versions={
                rid: written.versions[rid]
                for rid in (*(r.id for r in written.replaced), *written.added)
                if rid in written.versions
            },
            label=undo_label or label,
            drop=written.added,
            unassigned=written.unassigned_before if written.whole else None,
            whole=written.whole or bool(written.added),
            supervisor_only=supervisor_only,
            redo=redo,
            expect=written.written,
            orders=undo_orders,
            reverse_orders=orders.unchecked(),
        )
        changes = diff_changes(plan, written.plan, command)
        if orders:
            changes = replace(changes, orders=changes.orders | orders.ids)
        return CommandResult(
            plan=written.plan,
            changes=changes,
            undo=undo,
            label=label,
            command_id=written.command_id,
            versions=written.versions,
            orders=orders,
        )


def _dispatcher_may_accept(scope: ReplanScope | None) -> bool:
    """The explicit rule: a dispatcher may accept a re-plan limited to one exception's
    routes (named exception, at most EXCEPTION_SCOPE_MAX_ROUTES routes); nothing wider."""
    return (
        scope is not None
        and bool(scope.exception_id)
        and len(scope.route_ids) <= EXCEPTION_SCOPE_MAX_ROUTES
    )


def _moves(plan: Plan, routes: Sequence[Route]) -> bool:
    where = {o: r.id for r in plan.routes for o in r.order_ids}
    return any(where.get(o, r.id) != r.id for r in routes for o in r.order_ids)
