"""The workstation's end of a shared PostgreSQL: a local copy, an outbox, presence, status.

With ``DISPATCH_DATABASE_URL`` naming PostgreSQL, the workstation works on a local SQLite
copy of its depot's day (``local-<workstation>.sqlite3`` in the data directory) through
``app.sync.offline.OfflineDesk``: every dispatch command writes its outbox command in the
same local transaction (``on_write``), ``SyncService`` replays the outbox to the shared
database in the background and catches the local copy up when another workstation commits.
``SyncSession`` turns what the sync thread reports into Qt signals for the GUI thread:
the status (online, pending, conflicts), "the local copy moved", and who edits which route.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from datetime import UTC, date
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.dispatch.store import CommandRecord
from app.exceptions.kinds import DeskExceptionType
from app.store import Store, open_store
from app.store import repository as repo
from app.store.migrate import require_current
from app.sync import outbox
from app.sync.commands import SAVE_PLAN, SET_LOCKS, SET_ROUTE_STOPS, Command, PlanChange
from app.sync.conflict_view import ConflictView, conflict_view
from app.sync.offline import UNREACHABLE, OfflineDesk
from app.sync.presence import Editor, Presence
from app.sync.service import SyncService
from app.sync.status import SyncStatus
from app.sync.status_signal import SyncStatusSignal
from engine.rules import LiveException, Severity

log = logging.getLogger(__name__)


def is_shared_url(url: str) -> bool:
    """True when ``url`` names a PostgreSQL database (a database shared by workstations)."""
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


def local_copy_path(data_dir: Path, workstation: str) -> Path:
    """Where this workstation keeps its local copy of the day."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workstation)
    return data_dir / f"local-{safe}.sqlite3"


def _with_timeout(url: str, seconds: int = 3) -> str:
    parsed = make_url(url)
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(seconds)})
    return parsed.render_as_string(hide_password=False)


SHOWN_ROUTES = 6  # routes a conflict's text names; a whole-plan conflict names those differing


def conflict_text(detail: str) -> str:
    """Both versions of a sync conflict as one readable paragraph."""
    try:
        data = json.loads(detail)
    except ValueError:
        return detail
    lines = []
    plans = data.get("plans") or {}
    if plans and plans.get("mine") != plans.get("theirs"):
        lines.append(f"plan: yours {plans.get('mine')} | stored {plans.get('theirs') or 'none'}")
    locks = data.get("locks") or {}
    if locks:
        lines.append(
            "yours "
            + ", ".join(f"{'locks' if v else 'unlocks'} {oid}" for oid, v in sorted(locks.items()))
        )
    mine_routes, theirs_routes = data.get("mine") or {}, data.get("theirs") or {}
    ids = sorted(set(mine_routes) | set(theirs_routes))
    # A whole plan against a whole plan: the routes that differ, a few of them.
    differ = [rid for rid in ids if (mine_routes.get(rid) or {}).get("orders")
              != (theirs_routes.get(rid) or {}).get("orders")]  # fmt: skip
    more = 0
    if len(ids) > SHOWN_ROUTES:
        pool = differ or ids
        ids, more = pool[:SHOWN_ROUTES], max(0, len(pool) - SHOWN_ROUTES)
    for rid in ids:
        mine = mine_routes.get(rid)
        theirs = theirs_routes.get(rid) or {}
        yours = (f"yours (from v{mine.get('version')}): {' '.join(mine.get('orders', []))}"
                 if mine is not None else "not in yours")  # fmt: skip
        line = (f"{rid}: {yours} | stored (v{theirs.get('version')}): "
                f"{' '.join(theirs.get('orders', []))}")  # fmt: skip
        if mine is not None:
            only_mine = [o for o in mine.get("orders", []) if o not in theirs.get("orders", [])]
            only_theirs = [o for o in theirs.get("orders", []) if o not in mine.get("orders", [])]
            diff = [f"+{o} yours only" for o in only_mine]
            diff += [f"+{o} stored only" for o in only_theirs]
            if not diff and mine.get("orders") != theirs.get("orders"):
                diff = ["same stops, another sequence"]
            if diff:
                line += f" [differs: {', '.join(diff[:6])}]"
        lines.append(line)
    if more > 0:
        lines.append(f"and {more} more route{'s' if more > 1 else ''} differ")
    by = data.get("changed_by") or {}
    if by:
        at = str(by.get("at", ""))[11:16]
        lines.append(f"the stored version is by {by.get('actor', '?')} at {at} UTC")
    reason = data.get("reason", "")
    return "; ".join(lines) + (f" ({reason})" if reason else "")


def command_of(record: CommandRecord) -> Command:
    """The outbox command of a dispatch command written on the local copy."""
    base = dict(record.base_versions)
    if record.whole:
        change = PlanChange(record.plan_id, record.written, record.drop, record.unassigned,
                            check_all=record.check_all)  # fmt: skip
        return Command(record.depot_id, record.day, {}, base, record.actor, record.label,
                       record.key, kind=SAVE_PLAN, plan=change, before=record.before,
                       orders=record.orders.to_json() if record.orders else {})  # fmt: skip
    routes = dict(record.routes)
    base = {rid: base[rid] for rid in routes}
    kind = SET_LOCKS if record.command in ("lock", "unlock") and record.locks else SET_ROUTE_STOPS
    return Command(record.depot_id, record.day, routes, base, record.actor, record.label,
                   record.key, kind=kind, locks=record.locks, before=record.before,
                   times=record.times if kind == SET_ROUTE_STOPS else {},
                   orders=record.orders.to_json() if record.orders else {})  # fmt: skip


class SyncSession(QObject):
    """One workstation's local copy and its way to the shared database, for the GUI."""

    sig_status = Signal(object)  # SyncStatus, queued into the GUI thread
    sig_editors = Signal(object)  # {route_id: [Editor]} of the other workstations

    def __init__(
        self, local: Store, shared_url: str, *, workstation: str, user: str,
        retry_s: float = 1.0, parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.local, self.shared_url = local, shared_url
        self.workstation, self.user = workstation, user
        self.retry_s = retry_s
        self.desk: OfflineDesk | None = None
        self.service: SyncService | None = None
        self.presence: Presence | None = None
        self.status_signal = SyncStatusSignal(self)
        self.status_signal.changed.connect(self.sig_status)
        self._last = SyncStatus(online=False, last_error="not connected yet")
        self._editors: dict[str, list[Editor]] = {}

    # -- setting up ------------------------------------------------------------------------
    def open_shared(self) -> Store | None:
        """The shared database at this version's schema (``SchemaError`` otherwise: desks
        never migrate it, the administrator does); None when unreachable."""
        try:
            store = open_store(
                _with_timeout(self.shared_url), workstation=self.workstation, migrate=False
            )
            store.clock = self.local.now  # its changes on the desk's day clock
            try:
                require_current(store.engine)
            except BaseException:
                store.close()
                raise
            return store
        except UNREACHABLE as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("shared database unreachable at start, working offline: %s", first)
            self._last = SyncStatus(online=False, last_error=first)
            return None

    def attach(self, depot_id: str, day: date) -> bool:
        """Follow ``depot_id``'s ``day``: seed the local copy (when reachable), start the
        background sync and presence. True when the local copy is fresh from the shared one."""
        self.desk = OfflineDesk(
            self.local, self.shared_url, depot_id=depot_id, day=day,
            workstation=self.workstation, on_status=self._on_status,
        )  # fmt: skip
        seeded = self.desk.seed()
        self.service = SyncService(self.desk, retry_s=self.retry_s).start()
        self.presence = Presence(
            self.desk.shared(), workstation=self.workstation, user=self.user,
            heartbeat_s=2.0, on_change=self._on_editors,
        ).start()  # fmt: skip
        status = self.desk.status()
        if seeded:  # the copy just came from the shared database: it is reachable
            status = replace(status, online=True, last_error="")
        self._on_status(status)
        return seeded

    def stop(self) -> None:
        """Stop the background threads and close the shared connections (idempotent)."""
        if self.presence is not None:
            self.presence.stop()
            self.presence = None
        if self.service is not None:
            self.service.stop()
            self.service = None
        if self.desk is not None:
            self.desk.close()

    # -- commands --------------------------------------------------------------------------
    def on_write(self, session: Session, record: CommandRecord) -> None:
        """The dispatch service's hook: queue the command in the local transaction, with
        the route versions it was based on. A whole-plan save (an accepted re-plan) goes as
        ``save_plan`` with its routes in full, locks as ``set_locks``, the rest (moves,
        undo) as ``set_route_stops``."""
        outbox.enqueue(session, command_of(record))

    def poke(self) -> None:
        """Replay soon (after a command)."""
        if self.service is not None:
            self.service.poke()

    def save_plan(self, plan, *, actor: str, based_on=None) -> None:
        """A fresh plan of the day: the local copy takes it and it goes to the outbox as a
        plan save based on the plan the local copy had (none, or the shared one at its
        route versions), replayed in the background. Another plan stored on the shared
        database meanwhile makes it a sync conflict to resolve, never an overwrite either
        way."""
        if self.desk is None:
            with self.local.session() as s:
                repo.save_plan(s, plan, actor=actor)
            return
        self.desk.save_plan(plan, actor=actor, label=f"New plan ({len(plan.routes)} routes)",
                            based_on=based_on)  # fmt: skip
        self.poke()

    def resolve_conflict(self, exception_id: str, *, keep: str, actor: str) -> None:
        """Keep ``"mine"`` (applied again on top) or ``"theirs"``; then sync. A held
        command (a sync problem): ``"retry"`` or ``"discard"``."""
        if self.desk is None:
            raise KeyError(f"no sync conflict {exception_id!r}: not following a shared day")
        if keep in ("retry", "discard"):
            self.desk.settle_problem(exception_id, action=keep, actor=actor)
        else:
            self.desk.resolve_conflict(exception_id, keep=keep, actor=actor)
        self.poke()

    def claim_first_plan(self, actor: str) -> str | None:
        """None: this desk plans the unplanned day; else who does (wait for it)."""
        return self.desk.claim_first_plan(actor) if self.desk is not None else None

    def announce(self, route_id: str | tuple[str, ...] | None) -> None:
        """Tell the other workstations which route this one edits (None: nothing); never
        waits for the network."""
        presence = self.presence
        if presence is not None:
            threading.Thread(
                target=presence.editing, args=(route_id,), name="presence-announce", daemon=True
            ).start()

    # -- reads -----------------------------------------------------------------------------
    @property
    def status(self) -> SyncStatus:
        """Online as last reported; pending edits and open conflicts as stored now (a
        report from the sync thread may arrive after a newer one from a command)."""
        if self.desk is None:
            return self._last
        return replace(
            self._last, pending=self.desk.pending_count(), conflicts=len(self.desk.conflicts()),
            failed=self.desk.held_count(),
        )  # fmt: skip

    def pending(self) -> int:
        """Commands waiting in the local outbox now."""
        return self.desk.pending_count() if self.desk is not None else 0

    def editors(self) -> dict[str, list[Editor]]:
        """route id -> the other workstations editing it now (silent ones expire)."""
        return self.presence.editors() if self.presence is not None else {}

    def conflict_view(self, exception_id: str) -> ConflictView | None:
        """An open sync conflict laid out for the conflict dialog (None: not open here)."""
        if self.desk is None:
            return None
        for row in self.desk.conflicts():
            if row.id == exception_id:
                return conflict_view(row.detail, row.suggested_action)
        return None

    def conflict_exceptions(self, vehicle_of: dict[str, str]) -> list[LiveException]:
        """Open sync conflicts as exceptions for the board (``vehicle_of``: route -> vehicle)."""
        if self.desk is None:
            return []
        out = []
        for row in self.desk.conflicts():
            routes = sorted((json.loads(row.detail).get("mine") or {}) if row.detail else {})
            detected = row.detected_at
            if detected.tzinfo is None:
                detected = detected.replace(tzinfo=UTC)
            out.append(
                LiveException(
                    row.id,
                    DeskExceptionType.SYNC_CONFLICT,
                    Severity.WARNING,
                    vehicle_of.get(routes[0]) if routes else None,
                    None,
                    detected,
                    "Sync conflict: " + conflict_text(row.detail),
                    "Resolve: keep mine (apply my version again) or keep theirs",
                )  # fmt: skip
            )
        for row in self.desk.problems():
            data = json.loads(row.detail) if row.detail else {}
            routes = list(data.get("routes") or [])
            detected = row.detected_at
            if detected.tzinfo is None:
                detected = detected.replace(tzinfo=UTC)
            what = data.get("label") or data.get("kind") or "an edit"
            out.append(
                LiveException(
                    row.id,
                    DeskExceptionType.SYNC_FAILED,
                    Severity.WARNING,
                    vehicle_of.get(routes[0]) if routes else None,
                    None,
                    detected,
                    f"Not sent to the shared database: {what} by {data.get('actor', '?')}: "
                    f"{data.get('error', '')}",
                    "Resolve: retry sending it, or discard it (the shared version stays)",
                )  # fmt: skip
            )
        return out

    # -- from the background threads -------------------------------------------------------
    def _on_status(self, status: SyncStatus) -> None:
        self._last = status
        self.status_signal.publish(status)

    def _on_editors(self, editors: dict[str, list[Editor]]) -> None:
        self._editors = editors
        self.sig_editors.emit(editors)
