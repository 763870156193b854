"""A workstation that keeps working when the shared database is unreachable.

``OfflineDesk`` works on a local SQLite copy of its depot's day. ``execute`` applies a
command to the local copy and adds it to the outbox in the same local transaction, online or
not. ``sync`` replays the outbox in order against the shared database (a moved base version
becomes a sync conflict, an already-applied key is skipped), then, with nothing left
waiting, catches the local copy up with the shared one (plan and route versions).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.store import Store, open_store
from app.store import repository as repo
from app.store.changelog import log_change
from app.store.database import serialize
from app.store.models import ExceptionRow, OutboxRow, RouteRow
from app.store.repository_release import add_release_records, release_records
from app.store.route_write import OrderEdits
from app.sync import outbox
from app.sync.backfill import backfill_telemetry
from app.sync.commands import (
    LOCAL_COPY,
    RELEASE_CONTROL,
    SAVE_PLAN,
    SET_LOCKS,
    Command,
    IntentGone,
    PlanChange,
    apply_command,
    rebase_moves,
)
from app.sync.status import SyncStatus
from engine.model import Plan

log = logging.getLogger(__name__)

CLAIM_S = 600  # how long a desk's claim to plan an unplanned day holds
CLAIM_TRIES = 5


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


UNREACHABLE = (OperationalError, InterfaceError, DBAPIError, OSError, TimeoutError)


def is_unreachable(exc: BaseException) -> bool:
    """The shared database could not be reached (or the connection broke): wait and retry.
    Any other database error (a refused statement, a missing permission) is not the
    network and must not pass for "offline"."""
    if isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


FaultHook = Callable[[str, str], None]


@dataclass(frozen=True)
class SyncReport:
    """One ``sync``: commands applied, skipped as already there, conflicts; still waiting."""

    applied: int = 0
    duplicates: int = 0
    conflicts: int = 0
    pending: int = 0
    refreshed: bool = False
    online: bool = True
    problem: str = ""


def _with_timeout(url: str, seconds: int = 3) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(seconds)})
    return parsed.render_as_string(hide_password=False)


@contextmanager
def snapshot_session(store: Store) -> Iterator[Session]:
    """A read-only session whose every query sees one snapshot (PostgreSQL ``REPEATABLE
    READ``): the plan's routes, their stops and their versions all from the same moment.
    A READ COMMITTED read can pair one commit's stops with the next commit's versions."""
    engine = store.engine
    if store.dialect == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    with Session(engine) as session, session.begin():
        yield session


class OfflineDesk:
    """One workstation's local copy of ``depot_id``'s ``day`` and its way to the shared one."""

    def __init__(
        self,
        local: Store,
        shared_url: str | None,
        *,
        depot_id: str,
        day: date,
        workstation: str,
        on_status: Callable[[SyncStatus], None] | None = None,
        fault: FaultHook | None = None,
    ) -> None:
        self.local = local
        self.shared_url = shared_url
        self.depot_id, self.day, self.workstation = depot_id, day, workstation
        self.on_status = on_status
        self.fault = fault
        self.work_offline = False  # the user's switch (and the drills' way to go offline)
        self._shared: Store | None = None
        self._online = False
        self._last_error = "" if shared_url else "no shared database configured"
        self._last_sync: datetime | None = None
        self._problem = ""
        self._lock = threading.RLock()

    # -- the shared database ---------------------------------------------------------------
    def shared(self) -> Store:
        """The shared store (opened on first use; connects lazily)."""
        if self.shared_url is None:
            raise ConnectionError("no shared database configured")
        if self._shared is None:
            url = _with_timeout(self.shared_url)
            self._shared = open_store(url, workstation=self.workstation, migrate=False)
            self._shared.clock = self.local.now  # its changes on the desk's day clock
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    # -- commands --------------------------------------------------------------------------
    def versions(self) -> dict[str, int]:
        """Route versions of the local copy: the base of the next command."""
        with self.local.read_session() as s:
            return repo.route_versions(s, self.depot_id, self.day)

    def execute(
        self, routes: Mapping[str, Sequence[str]], *, actor: str, label: str = "",
        base_versions: Mapping[str, int] | None = None, locks: Mapping[str, bool] | None = None,
    ) -> Command:  # fmt: skip
        """Rewrite ``routes`` on the local copy and queue the command, in one local
        transaction. ``base_versions`` (default: the local copy's) is what the edit was
        made from; a route that moved on locally raises ``StaleVersionError``."""

        def build(s: Session) -> Command:
            base = base_versions
            if base is None:
                stored = repo.route_versions(s, self.depot_id, self.day)
                base = {rid: stored.get(rid, 0) for rid in routes}
            plan = repo.load_plan(s, self.depot_id, self.day)
            before = {r.id: r.order_ids for r in (plan.routes if plan else ()) if r.id in routes}
            return Command(self.depot_id, self.day, routes, base, actor, label,
                           locks=dict(locks or {}), before=before)  # fmt: skip

        return self._queue(build)

    def set_locks(self, locks: Mapping[str, bool], *, actor: str, label: str = "") -> Command:
        """Lock (True) or unlock (False) stops on the local copy and queue the command, based
        on the local versions of the routes they are on."""

        def build(s: Session) -> Command:
            plan = repo.load_plan(s, self.depot_id, self.day)
            where = {o: r for r in (plan.routes if plan else ()) for o in r.order_ids}
            missing = sorted(set(locks) - set(where))
            if missing:
                raise ValueError(f"cannot lock: orders {missing} are on no route of the day")
            stored = repo.route_versions(s, self.depot_id, self.day)
            routes = {where[o].id: where[o].order_ids for o in locks}
            return Command(self.depot_id, self.day, routes,
                           {rid: stored[rid] for rid in routes}, actor, label,
                           kind=SET_LOCKS, locks=dict(locks))  # fmt: skip

        return self._queue(build)

    def save_plan(
        self, plan: Plan, *, actor: str, label: str = "", based_on: PlanBase | None = None
    ) -> Command:
        """Put a fresh plan of the day in place of the local copy's (if any) and queue it,
        based on that plan and its route versions: on the shared database it replaces the
        plan it was made from, and is a conflict if another plan landed meanwhile."""
        if (plan.depot_id, plan.day) != (self.depot_id, self.day):
            raise ValueError(f"plan {plan.id} is for {plan.depot_id} {plan.day}, "
                             f"not this workstation's {self.depot_id} {self.day}")  # fmt: skip
        return self._queue(
            lambda s: plan_command(s, plan, actor=actor, label=label, based_on=based_on)
        )

    def submit(self, command: Command) -> Command:
        """Apply a ready command to the local copy and queue it, in one local transaction."""
        return self._queue(lambda _s: command)

    def _queue(self, build: Callable[[Session], Command]) -> Command:
        """The command ``build`` makes from the local copy, applied to it and queued in the
        outbox in the same local transaction."""
        with self.local.session() as s:
            s.info[LOCAL_COPY] = True  # no other depot's plan here: the shared one checks
            command = build(s)
            apply_command(s, command)
            outbox.enqueue(s, command)
        self._publish()
        return command

    # -- sync --------------------------------------------------------------------------------
    def sync(self) -> SyncReport:
        """Replay the outbox, then catch up the local copy; offline: report and keep it.

        A command that fails for a reason other than a conflict or the network is held back
        (a sync problem on the board, retry / discard) and later commands on other routes
        still go; a failure of the sync itself is reported once, not retried in a loop."""
        with self._lock:
            if self.work_offline or self.shared_url is None:
                self._online = False
                self._publish()
                return SyncReport(pending=self.pending_count(), online=False)
            applied = duplicates = conflicts = 0
            try:
                for outcome in self._replay():
                    applied += outcome.status == "applied"
                    duplicates += outcome.status == "duplicate"
                    conflicts += outcome.status == "conflict"
                backfill_telemetry(self.local, self.shared())
                refreshed = self.refresh()
                self._online, self._last_error, self._problem = True, "", ""
                self._last_sync = datetime.now(UTC)
            except Exception as exc:
                if not is_unreachable(exc):
                    self._sync_problem(exc)
                else:
                    self._went_offline(exc)
                refreshed = False
            left = self.pending_count()
            self._publish(left)
            return SyncReport(applied, duplicates, conflicts, left - self.held_count(),
                              refreshed, self._online, self._problem)  # fmt: skip

    def _sync_problem(self, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        if text != self._problem:  # said once, not at every retry
            log.error("sync problem (not the network): %s", text, exc_info=exc)
        self._online, self._problem = True, text

    def _went_offline(self, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self._online or not self._last_error:
            log.warning("shared database unreachable, working offline: %s", first)
        self._online, self._last_error = False, first

    def _next(self, tried: set[str]) -> tuple[OutboxRow, bool] | None:
        """The oldest pending command not held back and not on a held command's routes
        (it depends on it), with whether it is tainted by an earlier conflict."""
        with self.local.read_session() as s:
            rows = outbox.pending(s)
            blocked: set[str] = set()
            for row in rows:
                if outbox.is_held(row):
                    blocked |= outbox.touches(row)
                    continue
                if row.idempotency_key in tried or outbox.touches(row) & blocked:
                    continue
                tainted = outbox.tainted_routes(s)
                s.expunge(row)
                return row, bool(tainted & outbox.touches(row))
        return None

    def _replay(self):
        shared = self.shared()
        tried: set[str] = set()
        while True:
            found = self._next(tried)
            if found is None:
                return
            row, tainted = found
            tried.add(row.idempotency_key)
            try:
                command = Command.from_json(row.idempotency_key, row.command, row.base_versions)
                outcome = outbox.send(shared, command, tainted=tainted)
            except Exception as exc:
                if is_unreachable(exc):
                    raise
                self._hold(row.idempotency_key, exc)
                continue
            if self.fault is not None:
                self.fault("after_shared_commit", command.key)
            exception = None
            if outcome.status == "conflict":
                exception = outbox.shared_conflict(shared, command.key)
            outbox.acknowledge(self.local, outcome, exception)
            yield outcome

    def _hold(self, key: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
        log.error("command %s held back, not sent: %s", key, text, exc_info=exc)
        with self.local.session() as s:
            outbox.hold(s, key, text, datetime.now(UTC))

    def refresh(self) -> bool:
        """Copy the day and its plan (with route versions) from the shared database, unless
        commands are still waiting (their local effects would be lost). True if copied."""
        with self.local.read_session() as s:
            if outbox.pending_count(s):
                return False
        with snapshot_session(self.shared()) as s:
            day = repo.load_day(s, self.depot_id, self.day)
            # Every depot (a few rows): the desk names them, and an order moves to them.
            depots = repo.list_depots(s)
            plan = repo.load_plan(s, self.depot_id, self.day)
            versions = repo.route_versions(s, self.depot_id, self.day)
            released = release_records(s, self.depot_id, self.day,
                                       [r.id for r in plan.routes] if plan else [])  # fmt: skip
        with self.local.session() as s:
            if outbox.pending_count(s):  # a command slipped in meanwhile: next time
                return False
            actor = f"sync@{self.workstation}"
            repo.upsert_depots(s, [*day.depots, *(d for d in depots
                                                    if d.id not in {x.id for x in day.depots})],
                               actor=actor)  # fmt: skip
            repo.upsert_vehicles(s, day.vehicles, actor=actor)
            repo.upsert_drivers(s, day.drivers, actor=actor)
            repo.upsert_orders(s, day.orders, actor=actor)
            repo.upsert_waves(s, day.waves, actor=actor)
            if plan is not None:
                repo.save_plan(s, plan, actor=actor)
                s.flush()
                for rid, version in versions.items():
                    s.execute(
                        update(RouteRow).where(RouteRow.id == rid).values(version=version),
                        execution_options={"synchronize_session": False},
                    )
            add_release_records(s, released)  # transitions, overrides, scans of other desks
            last = s.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc()).limit(1)) or 0
            log_change(s, outbox.REFRESH_ENTITY, f"{self.depot_id}/{self.day}", "update",
                       actor=actor, after={"outbox_id": last, "versions": versions})  # fmt: skip
        return True

    def seed(self) -> bool:
        """Take the first copy of the day while online; False when unreachable."""
        try:
            with self._lock:
                return self.refresh()
        except UNREACHABLE as exc:
            self._went_offline(exc)
            return False

    # -- status ------------------------------------------------------------------------------
    def claim_first_plan(self, actor: str) -> str | None:
        """Two desks opening an unplanned day plan it once: the first to claim it plans
        (None), the others get who holds the claim and wait for the plan to arrive. A
        claim older than ``CLAIM_S`` with still no plan (its desk died) is taken over.
        Unreachable: plan here (a second plan becomes a conflict, never an overwrite)."""
        key = f"first-plan:{self.depot_id}:{self.day}"
        now = datetime.now(UTC)
        try:
            with self.shared().session() as s:
                serialize(s, key)
                if repo.load_plan(s, self.depot_id, self.day) is not None:
                    return "a plan is stored already"
                keys = [f"{key}:{n}" for n in range(CLAIM_TRIES)]
                rows = list(s.scalars(select(OutboxRow).where(OutboxRow.idempotency_key.in_(keys))))
                fresh = [r for r in rows if _aware(r.created_at) > now - timedelta(seconds=CLAIM_S)]
                if fresh:
                    return f"{fresh[0].command.get('actor', '?')} since {fresh[0].created_at:%H:%M}"
                if len(rows) >= CLAIM_TRIES:
                    return None  # claimed and lost too often: plan here
                s.add(OutboxRow(
                    idempotency_key=keys[len(rows)], command={"kind": "first_plan", "actor": actor},
                    base_versions={}, created_at=now, sent_at=now, acked_at=now, attempts=1,
                    last_error="",
                ))  # fmt: skip
            return None
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            self._went_offline(exc)
            return None

    def held_count(self) -> int:
        """Pending commands held back after a failure (waiting for retry or discard)."""
        with self.local.read_session() as s:
            return sum(1 for row in outbox.pending(s) if outbox.is_held(row))

    def problems(self) -> list[ExceptionRow]:
        """Open sync problems of this workstation: commands held back (newest first)."""
        with self.local.read_session() as s:
            query = (
                select(ExceptionRow)
                .where(ExceptionRow.type == outbox.FAILED_TYPE, ExceptionRow.resolved_at.is_(None))
                .order_by(ExceptionRow.detected_at.desc())
            )
            return list(s.scalars(query))

    def settle_problem(self, exception_id: str, *, action: str, actor: str) -> None:
        """A held command: ``"retry"`` sends it again at the next sync; ``"discard"``
        drops it (the shared database keeps its version, the local copy catches up)."""
        if action not in ("retry", "discard"):
            raise ValueError(f"action must be 'retry' or 'discard', got {action!r}")
        key = exception_id.removeprefix(outbox.failed_id(""))
        now = datetime.now(UTC)
        with self.local.session() as s:
            exc = s.get(ExceptionRow, exception_id)
            row = s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
            if exc is None or exc.type != outbox.FAILED_TYPE:
                raise KeyError(f"no sync problem {exception_id!r} on this workstation")
            exc.resolved_at, exc.resolved_by = now, actor
            if row is not None and row.acked_at is None:
                if action == "retry":
                    row.last_error = ""
                else:
                    row.acked_at = now
                    row.last_error = f"discarded by {actor}: {row.last_error}"[:2000]
        self._publish()

    def pending_count(self) -> int:
        with self.local.read_session() as s:
            return outbox.pending_count(s)

    def conflicts(self) -> list[ExceptionRow]:
        """Open sync conflicts of this workstation (newest first); ``detail`` is JSON with
        ``mine`` and ``theirs`` (route id -> version and orders) and the reason."""
        with self.local.read_session() as s:
            query = (
                select(ExceptionRow)
                .where(
                    ExceptionRow.type == outbox.CONFLICT_TYPE, ExceptionRow.resolved_at.is_(None)
                )
                .order_by(ExceptionRow.detected_at.desc())
            )
            return list(s.scalars(query))

    def resolve_conflict(self, exception_id: str, *, keep: str, actor: str) -> Command | None:
        """Settle a sync conflict: ``keep="theirs"`` leaves the shared version; ``"mine"``
        applies this desk's edit again on top of what is stored now (a new command: the
        same reassignment, the same locks, the same plan). The conflict is marked resolved
        here and, when reachable, on the shared database."""
        if keep not in ("mine", "theirs"):
            raise ValueError(f"keep must be 'mine' or 'theirs', got {keep!r}")
        with self.local.read_session() as s:
            row = s.get(ExceptionRow, exception_id)
            if row is None or row.type != outbox.CONFLICT_TYPE:
                raise KeyError(f"no sync conflict {exception_id!r} on this workstation")
            mine = json.loads(row.detail)["mine"]
            key = exception_id.removeprefix(outbox.conflict_id(""))
            queued = s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
            refused = (Command.from_json(key, queued.command, queued.base_versions)
                       if queued is not None else None)  # fmt: skip
        command = None
        if keep == "mine":
            label = f"kept after {exception_id}"
            if refused is None:  # only the conflict's own record: the routes it wanted
                routes = {rid: v["orders"] for rid, v in mine.items()}
                command = self.execute(routes, actor=actor, label=label)
            else:
                command = self._again(refused, actor=actor, label=label)
        now = datetime.now(UTC)
        with self.local.session() as s:
            row = s.get(ExceptionRow, exception_id)
            if row is None:
                raise KeyError(f"no sync conflict {exception_id!r} on this workstation")
            row.resolved_at, row.resolved_by = now, actor
        try:
            with self.shared().session() as s:
                row = s.get(ExceptionRow, exception_id)
                if row is not None and row.resolved_at is None:
                    row.resolved_at, row.resolved_by = now, actor
        except UNREACHABLE as exc:
            self._went_offline(exc)
        self._publish()
        return command

    def _again(self, refused: Command, *, actor: str, label: str) -> Command | None:
        """``refused`` made again on the local copy as it is now (the kept version)."""
        if refused.kind == SET_LOCKS:
            return self.set_locks(refused.locks, actor=actor, label=label)
        if refused.kind == RELEASE_CONTROL:
            return self._queue(lambda s: self._release_again(s, refused, actor, label))
        if refused.kind != SAVE_PLAN:
            return self._move_again(refused, actor=actor, label=label)
        change = refused.plan
        assert change is not None

        def build(s: Session) -> Command:
            if change.replace:
                mine = Plan(change.plan_id, self.depot_id, self.day, change.routes,
                            change.unassigned)  # fmt: skip
                return plan_command(s, mine, actor=actor, label=label)
            plan = repo.load_plan(s, self.depot_id, self.day)
            if plan is None or plan.id != change.plan_id:
                raise IntentGone(
                    f"the day's plan is now {plan.id if plan else 'none'}, not "
                    f"{change.plan_id} that this re-plan was for; re-plan it again"
                )
            now = {r.id: r.order_ids for r in plan.routes}
            edited = sorted(rid for rid, ids in refused.before.items()
                            if tuple(now.get(rid, ())) != tuple(ids))  # fmt: skip
            if edited:  # its routes in full would overwrite someone else's edit
                raise IntentGone(
                    f"route {', '.join(edited)} that this re-plan changes was edited "
                    "meanwhile; re-plan again on what is stored now"
                )
            versions = repo.route_versions(s, self.depot_id, self.day)
            ids = set(versions) if change.check_all else set(refused.routes)
            base = {rid: versions[rid] for rid in ids if rid in versions}
            return Command(self.depot_id, self.day, {}, base, actor, label,
                           kind=SAVE_PLAN, plan=change)  # fmt: skip

        return self._queue(build)

    def _move_again(self, refused: Command, *, actor: str, label: str) -> Command | None:
        """The reassignment's intent (which orders it put on which route, in which
        sequence) made again on the local copy as it is now, through the applier's checks;
        ``IntentGone`` when it no longer applies."""

        edits = OrderEdits.from_json(refused.orders)
        if edits.seen:  # a move to another depot: kept on that depot's plan as it is now
            edits = replace(edits, seen=self._plans_now(edits.seen))

        def build(s: Session) -> Command:
            plan = repo.load_plan(s, self.depot_id, self.day)
            if plan is None:
                raise IntentGone("the day has no plan any more")
            routes = rebase_moves(refused.before, refused.routes, plan, leaving=edits.leaving,
                                  arriving=frozenset(o.id for o in edits.put))  # fmt: skip
            locks = {o: on for o, on in refused.locks.items()
                     if any(o in ids for ids in routes.values())}  # fmt: skip
            if not routes and not edits:
                raise _AlreadyThere
            versions = repo.route_versions(s, self.depot_id, self.day)
            before = {r.id: r.order_ids for r in plan.routes if r.id in routes}
            return Command(self.depot_id, self.day, routes,
                           {rid: versions[rid] for rid in routes}, actor, label,
                           locks=locks, before=before,
                           orders=edits.to_json() if edits else {})  # fmt: skip

        try:
            return self._queue(build)
        except _AlreadyThere:
            return None

    def _plans_now(
        self, seen: Sequence[tuple[str, int | None]]
    ) -> tuple[tuple[str, int | None], ...]:
        """The other depots' plan versions of the day on the shared database now (what the
        person kept their move on, having seen both versions); ``IntentGone`` offline."""
        try:
            with self.shared().read_session() as s:
                versions = repo.plan_versions(s, self.day)
        except UNREACHABLE as exc:
            self._went_offline(exc)
            raise IntentGone(
                "the other depot's plan cannot be read now (offline); keep yours when the "
                "shared database is back"
            ) from exc
        return tuple((depot, versions.get(depot)) for depot, _ in seen)

    def _release_again(self, s: Session, refused: Command, actor: str, label: str) -> Command:
        """A refused release command decided again on the routes as stored now."""
        versions = repo.route_versions(s, self.depot_id, self.day)
        routes = {rid: versions.get(rid) for rid in refused.release["routes"]}
        data = {**refused.release, "routes": routes, "key": uuid.uuid4().hex, "actor": actor}
        base = {rid: v for rid, v in routes.items() if v is not None}
        return Command(self.depot_id, self.day, {}, base, actor, label, kind=RELEASE_CONTROL,
                       release=data)  # fmt: skip

    def status(self, pending: int | None = None) -> SyncStatus:
        pending = self.pending_count() if pending is None else pending
        return SyncStatus(self._online, pending, len(self.conflicts()), self._last_error,
                          self._last_sync, self.held_count(), self._problem)  # fmt: skip

    def _publish(self, pending: int | None = None) -> None:
        if self.on_status is not None:
            self.on_status(self.status(pending))


class _AlreadyThere(Exception):
    """A kept edit finds what is stored already as it wanted: nothing to send."""


PlanBase = tuple[str | None, Mapping[str, int]]  # the plan a new one was made on, versions


def plan_command(
    session: Session, plan: Plan, *, actor: str, label: str = "",
    based_on: PlanBase | None = None,
) -> Command:  # fmt: skip
    """A ``save_plan`` command putting ``plan`` in place of the day's plan in ``session``'s
    store, based on ``based_on`` (the plan id and route versions the planning started
    from; default: what is stored now): a plan or an edit stored meanwhile makes it a
    conflict, never a silent overwrite."""
    if based_on is None:
        stored = repo.load_plan(session, plan.depot_id, plan.day)
        versions = repo.route_versions(session, plan.depot_id, plan.day)
        based_on = (stored.id if stored is not None else None, versions)
    base_plan, versions = based_on[0], dict(based_on[1])
    change = PlanChange(plan.id, plan.routes, unassigned=plan.unassigned,
                        base_plan=base_plan, replace=True, check_all=True)  # fmt: skip
    return Command(plan.depot_id, plan.day, {}, versions, actor,
                   label or f"Plan of {plan.day}", kind=SAVE_PLAN, plan=change)  # fmt: skip
