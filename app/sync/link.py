"""The day state's link to the shared database: catch-ups shown, conflicts, editors, labels.

``SyncLink`` opens the workstation's store: with ``DISPATCH_DATABASE_URL`` naming PostgreSQL
that is the local copy, kept in step by a ``SyncSession``; otherwise the database itself and
nothing to sync. It shows what a catch-up of the local copy brought (through the dispatch
service, the day state's one writer), puts open sync conflicts on the exception board, wakes
the outbox after each command, and answers the window's questions: who else edits which
route, how the database is doing, how many commands wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.day.opening import OpenedDay, open_depot_day
from app.day.state import ChangeSource, DayChanges, DayState
from app.dispatch.service import DispatchService, diff_changes
from app.dispatch.stop_results import merge_stop_states
from app.exceptions.board import ExceptionBoard
from app.settings import Settings, user_data_dir
from app.store import SchemaError, StaleVersionError, Store, daycheck, open_store, repository
from app.store.changelog import last_change_id
from app.store.daycheck import DayProblem
from app.sync.commands import Command, apply_command
from app.sync.conflict_view import ConflictView
from app.sync.identity import Identity, desk_identity
from app.sync.offline import PlanBase
from app.sync.outbox import REFRESH_ENTITY
from app.sync.session import SyncSession, is_shared_url, local_copy_path
from app.sync.status import SyncStatus
from app.telemetry.state import StopState
from engine.model import Plan

if TYPE_CHECKING:
    from app.jobs.day import PlannedDay

log = logging.getLogger(__name__)

#: The local route versions and the id of the last catch-up (a catch-up may leave the same
#: version numbers with other stops).
StoredVersions = tuple[dict[str, int], int]


class SyncLink(QObject):
    """This workstation's store and, with a shared database, its way there."""

    sig_status = Signal(object)  # SyncStatus (shared database only), after the day followed
    sig_editors = Signal(object)  # {route_id: [Editor]}: who else edits which route
    sig_first_plan = Signal(object)  # Plan: a catch-up brought the day's first plan

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.session: SyncSession | None = None
        if is_shared_url(settings.database_url):
            from app.secrets import database_url_with_password

            local = local_copy_path(user_data_dir(), settings.workstation_id)
            self.store: Store = open_store(
                f"sqlite:///{local}", workstation=settings.workstation_id
            )
            self.session = SyncSession(
                self.store,
                database_url_with_password(settings.database_url),
                workstation=settings.workstation_id,
                user=settings.user,
                parent=self,
            )
            self.session.sig_status.connect(self._on_session_status)
            self.session.sig_editors.connect(self.sig_editors)
        else:
            self.store = open_store(
                settings.effective_database_url, workstation=settings.workstation_id
            )
        self._state: DayState | None = None
        self._board: ExceptionBoard | None = None
        self._dispatch: DispatchService | None = None
        self._stop_states: Callable[[], Mapping[str, StopState]] = dict
        self._versions: StoredVersions | None = None
        self.day_problems: list[DayProblem] = []

    # -- setting up ---------------------------------------------------------------------
    def identity(self) -> Identity:
        """Who works here and as what: the shared database says, else the user's profile
        (the last identity the database confirmed is remembered beside the local copy)."""
        shared_url = self.session.shared_url if self.session is not None else None
        remember = local_copy_path(user_data_dir(), self.settings.workstation_id)
        identity = desk_identity(self.settings, shared_url, remember.with_suffix(".identity.json"))
        if self.session is not None:
            self.session.user = identity.user
        return identity

    def open_shared(self) -> Store | None:
        """The shared database to read the day from at start; None without one, or when
        it is unreachable (the local copy of an earlier start serves)."""
        return self.session.open_shared() if self.session is not None else None

    def open_day(
        self, settings: Settings, *, role: str, actor: str
    ) -> tuple[OpenedDay | None, str]:
        """The depot and day to open, with what to tell the user ("" nothing). With a shared
        database the day is read (and the demo seeded, a supervisor's import) there; the
        local copy takes it on attach. Unreachable: the local copy of an earlier start."""
        try:
            shared = self.open_shared()
        except SchemaError as exc:  # the administrator has not upgraded the shared database
            log.error("%s", exc)
            return None, str(exc)
        may_seed = self.session is None or (shared is not None and role == "supervisor")
        try:
            opened = open_depot_day(shared or self.store, settings, may_seed=may_seed, actor=actor)
        finally:
            if shared is not None:
                shared.close()
        if opened is None:
            return None, (
                "No depot yet: import one with `python main.py import FOLDER`"
                if may_seed
                else "No depot yet on the shared database: a supervisor imports one"
                if shared is not None
                else "The shared database is unreachable and this workstation has no "
                "local copy of a day yet: connect it once"
            )
        return opened, f"Loaded the demo day: {opened.seeded} orders" if opened.seeded else ""

    def attach(
        self,
        state: DayState,
        board: ExceptionBoard,
        dispatch: DispatchService,
        stop_states: Callable[[], Mapping[str, StopState]],
    ) -> None:
        """Follow the shown day: catch-ups through ``dispatch``, conflicts on ``board``,
        ``stop_states`` (telemetry's) kept over a caught-up plan."""
        self._state, self._board, self._dispatch = state, board, dispatch
        self._stop_states = stop_states
        if self.session is not None:
            self._versions = self._stored_versions()

    def claim_first_plan(self, actor: str) -> str | None:
        """Before planning an unplanned day: None, this desk plans it; else who is
        planning it (a shared database: this desk waits and shows that plan)."""
        return self.session.claim_first_plan(actor) if self.session is not None else None

    def first_plan(self, actor: str, identity: Identity) -> str:
        """Who plans an unplanned day: "" this desk (then it plans), else what to tell the
        user. On a desk of its own whoever opens it; on a shared database a supervisor's
        (the database refuses a dispatcher's plan_day), once: another desk may be at it."""
        if identity.role != "supervisor" and self.session is not None:
            return (
                f"The day has no plan yet: planning the day is a supervisor's; "
                f"{identity.user} works as a dispatcher"
            )
        holder = self.claim_first_plan(actor)
        return "" if holder is None else f"Another desk is planning the day ({holder}): waiting"

    def check_day(self, depot_id: str, day: date) -> list[DayProblem]:
        """The shown day's broken invariants in this workstation's store (an order on two
        routes ...), kept for the status bar; ``python main.py db check --repair`` repairs."""
        with self.store.read_session() as session:
            self.day_problems = daycheck.check(session, depot_id, day)
        for problem in self.day_problems:
            log.warning("day check: %s %s: %s", problem.depot_id, problem.day, problem.text)
        return self.day_problems

    def day_problem(self, depot_id: str, day: date) -> str:
        """:meth:`check_day` told as one line for the status bar ("" when the day is sound)."""
        problems = self.check_day(depot_id, day)
        if not problems:
            return ""
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        return (
            f"The stored plan of {day} is broken ({problems[0].text}{more}): "
            "repair it with `python main.py db check --repair`"
        )

    def on_day_changed(self, changes: DayChanges) -> None:
        """After a command: replay its outbox entry now."""
        if self.session is not None and changes.source.is_command:
            self.session.poke()

    def save_plan(self, plan: Plan, *, actor: str, based_on: PlanBase | None = None) -> None:
        """A fresh plan of the day: into the local copy and the outbox, or the database;
        ``based_on`` (plan id, route versions) what the planning started from. Raises
        ``StaleVersionError`` when the day changed meanwhile (nothing stored)."""
        if self.session is not None:
            self.session.save_plan(plan, actor=actor, based_on=based_on)
        else:
            from app.sync.commands import apply_command
            from app.sync.offline import plan_command

            with self.store.session() as session:  # through the command applier's checks
                apply_command(session, plan_command(session, plan, actor=actor, based_on=based_on))

    def store_fresh_plan(
        self, planned: PlannedDay, dispatch: DispatchService, *, actor: str
    ) -> tuple[str, bool]:
        """A fresh plan: stored (and queued for the shared database), then shown through
        ``dispatch``. Returns (what to tell the user, whether a stored plan is now shown)."""
        based_on = (planned.base_plan, planned.base_versions or {})
        try:
            self.save_plan(planned.plan, actor=actor, based_on=based_on)
        except StaleVersionError as exc:  # the day changed while it was planned: not stored
            log.info("fresh plan not stored: %s", exc)
            if planned.base_plan is None and getattr(exc, "actual_plan", None):
                # Another desk's first plan landed first: that one is the day's, shown here.
                dispatch.show_stored_plan(fallback=None)
                self.note_versions()
                return "Another desk stored the day's plan first: showing it", True
            return (
                "The plan was not stored: the day changed while it was being planned "
                f"({exc}). Plan the day again to include the change."
            ), False
        dispatch.show_stored_plan(fallback=planned.plan)  # remembers versions
        self.note_versions()
        return planned.summary, True

    def note_versions(self) -> None:
        """The local copy's versions as the day state shows them now (after a save)."""
        if self.session is not None:
            self._versions = self._stored_versions()

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    # -- the local copy caught up -------------------------------------------------------
    def _stored_versions(self) -> StoredVersions:
        index = self._state.index if self._state is not None else None
        if index is None:
            return {}, 0
        with self.store.read_session() as session:
            versions = repository.route_versions(session, index.depot.id, index.day.day)
            return versions, last_change_id(session, REFRESH_ENTITY)

    def _on_session_status(self, status: SyncStatus) -> None:
        """The sync thread reported: show others' changes and new conflicts, then say so."""
        try:
            self._follow_local_copy()
            if status.conflicts or status.failed:
                self._board_conflicts()
        except Exception:  # a failed read must not stop the status from showing
            log.exception("following the local copy failed")
        self.sig_status.emit(status)

    def _follow_local_copy(self) -> None:
        """When the local copy's route versions moved (a catch-up with the shared
        database), show its plan: only the routes that differ change."""
        state, dispatch = self._state, self._dispatch
        if state is None or dispatch is None or state.index is None:
            return
        seen = self._stored_versions()
        if seen == self._versions:
            return
        plan = dispatch.load_plan(state.index.depot.id, state.index.day.day)
        self._versions = seen
        versions = seen[0]
        if plan is None:
            return
        plan, _ = merge_stop_states(plan, self._stop_states())  # keep what telemetry knows
        dispatch.remember(plan, versions)
        old = state.plan
        if old is None:
            dispatch.show_plan(plan)
            self.sig_first_plan.emit(plan)
            return
        changes = diff_changes(old, plan, ChangeSource.SYNC)
        if changes.routes or changes.orders:
            dispatch.show_plan(plan, changes)
        else:
            dispatch.remember(old, versions)  # same stops, new versions: edit on from here

    def _board_conflicts(self) -> None:
        if self.session is None or self._state is None or self._board is None:
            return
        vehicle_of = {r.id: r.vehicle_id for r in self._state.routes}
        for exc in self.session.conflict_exceptions(vehicle_of):
            if self._board.get(exc.id) is None:
                self._board.add(exc)

    # -- for the window -----------------------------------------------------------------
    def resolve_conflict(self, exception_id: str, keep: str, *, actor: str, now: datetime) -> None:
        """Settle a sync conflict: keep ``"mine"`` (my version again, on top of what is
        stored now) or ``"theirs"``; the board entry is resolved."""
        if self.session is None:
            raise KeyError(f"{exception_id!r}: no shared database, so no sync conflicts")
        self.session.resolve_conflict(exception_id, keep=keep, actor=actor)
        if self._board is not None:
            self._board.resolve(exception_id, now, actor)

    def conflict_view(self, exception_id: str) -> ConflictView | None:
        """Both versions of an open sync conflict, who stored the other and when (None:
        no such open conflict)."""
        return self.session.conflict_view(exception_id) if self.session is not None else None

    def submit(self, command: Command) -> None:
        """A command of this desk on the local copy and in the outbox (it waits there while
        the shared database is away); without a shared database, applied to the store."""
        desk = self.session.desk if self.session is not None else None
        if desk is not None:
            desk.submit(command)
        else:
            with self.store.session() as session:
                apply_command(session, command)
        if self.session is not None:
            self.session.poke()

    def record_exception_state(self, command: Command) -> None:
        """A person acknowledged or resolved an exception: stored with the day (the local
        copy and the outbox with a shared database, so it waits there while offline)."""
        desk = self.session.desk if self.session is not None else None
        for attempt in (1, 2):
            try:
                if desk is not None:
                    desk.submit(command)
                else:
                    with self.store.session() as session:
                        apply_command(session, command)
                break
            except StaleVersionError:  # the rules rewrote the row meanwhile: once more
                if attempt == 2:
                    raise
        if self.session is not None:
            self.session.poke()

    def announce_editing(self, route_id: str | tuple[str, ...] | None) -> None:
        """Tell the other workstations which route this one edits now (None: none)."""
        if self.session is not None:
            self.session.announce(route_id)

    def editors(self) -> dict[str, str]:
        """route id -> who else edits it now, e.g. ``dana@desk-2``."""
        if self.session is None:
            return {}
        return {
            rid: ", ".join(f"{e.user}@{e.workstation}" for e in found)
            for rid, found in self.session.editors().items()
        }

    def database_label(self) -> str:
        """The status bar's database text: kind, online or not, open sync conflicts, a
        broken stored day."""
        label = self._database_label()
        if self.day_problems:
            n = len(self.day_problems)
            label += f", plan broken: {n} problem{'s' if n > 1 else ''} (db check --repair)"
        return label

    def _database_label(self) -> str:
        if self.session is not None:
            status = self.session.status
            label = f"PostgreSQL {'online' if status.online else 'offline'}"
            if status.online and not status.healthy:
                label = "PostgreSQL sync problem"
                if status.failed:
                    n = status.failed
                    label += f": {n} edit{'s' if n > 1 else ''} not sent (see Exceptions)"
                elif status.problem:
                    label += f": {status.problem[:80]}"
            if status.conflicts:
                label += f", {status.conflicts} sync conflict{'s' if status.conflicts > 1 else ''}"
            return label
        url = self.settings.effective_database_url
        kind = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        return f"{kind} online"

    def outbox_pending(self) -> int:
        """Commands written locally and not yet replayed to the shared database."""
        return self.session.pending() if self.session is not None else 0
