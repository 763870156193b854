"""The window's order actions and proposals: urgent orders, change, cancel, find, import.

Opens the dialogs (one module each), runs their commands through the dispatch service and
the order and proposal desks over it, and puts every command on the window's one undo
stack (``DispatchController``'s), so Ctrl+Z undoes an inserted, changed or cancelled order
like a move. It keeps the day's proposals fresh (``ProposalBoard``) and says in the status
bar when one of this user's proposals was decided. Errors are shown, never hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.context import AppContext
from app.day.search import OrderHit, find_orders
from app.day.state import ChangeSource, DayIndex
from app.dispatch.orders import InsertOption, OrderDesk, OrderImpact
from app.dispatch.preview import states_from_fixes
from app.dispatch.proposal_board import ProposalBoard
from app.dispatch.proposals import ProposalDesk, StoredProposal
from app.dispatch.service import CommandRefused, DispatchService, NotAllowed
from app.importer.reading import ReadOptions
from app.importer.report import ImportReport
from app.store import StaleVersionError
from engine.model import DayInput, Order, Plan
from widgets.dispatch_controller import DispatchController
from widgets.import_dialog import ImportDialog
from widgets.order_change_dialog import CANCEL, CHANGE, OrderChangeDialog
from widgets.order_dialog import UrgentOrderDialog
from widgets.proposals_dialog import ProposalsDialog
from widgets.search_dialog import SearchDialog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Day:
    """What an order or proposal command works on: the service and the day as shown."""

    service: DispatchService
    plan: Plan
    day: DayInput
    index: DayIndex


class OrdersController(QObject):
    """Order and proposal actions for the window."""

    sig_focus_order = Signal(str)  # show this order on the map and the timeline
    sig_proposals_changed = Signal(str)  # the status bar's proposals field, e.g. "2 pending"

    def __init__(
        self, context: AppContext, dispatcher: DispatchController, parent_widget: QWidget
    ) -> None:
        super().__init__(parent_widget)
        self.context, self.dispatcher = context, dispatcher
        self._parent = parent_widget
        self.board: ProposalBoard | None = None
        self.search_dialog: SearchDialog | None = None
        self.last_dialog: QWidget | None = None  # the dialog opened last (tests drive it)
        self.unseen: list[StoredProposal] = []  # this user's proposals decided, not looked at
        self._cancelled: list = []  # the day's cancelled orders (found by search)
        self._cancelled_at: object = None
        context.state.sig_changed.connect(self._on_state_changed)

    # -- desks over the day's dispatch service ---------------------------------------------
    def _open_day(self) -> _Day | None:
        """The service, plan and day shown now; None (and a status line) before a plan."""
        ctx = self.context
        service, plan, index = ctx.dispatch, ctx.state.plan, ctx.state.index
        if service is None or plan is None or index is None:
            ctx.sig_status.emit("The day is not planned yet: wait for its plan")
            return None
        return _Day(service, plan, index.day, index)

    def _current(self) -> tuple[Plan, DayInput, datetime]:
        """The plan, the day and the clock now (a dialog asks when it computes)."""
        day = self._open_day()
        if day is None:
            raise CommandRefused("no day is open")
        return day.plan, day.day, self.context.now()

    def _service(self) -> DispatchService:
        if self.context.dispatch is None:
            raise CommandRefused("no day is open yet")
        return self.context.dispatch

    @property
    def orders(self) -> OrderDesk:
        travel = self.context.day_jobs.travel_model()
        return OrderDesk(self._service(), travel, self._vehicle_states)

    def _vehicle_states(self) -> dict:
        """Where each vehicle is now (live fixes as the engine's vehicle states)."""
        return states_from_fixes(self.context.live.positions())

    @property
    def proposals(self) -> ProposalDesk:
        return ProposalDesk(self._service())

    def _zone(self) -> str:
        index = self.context.state.index
        return index.depot.timezone if index else "UTC"

    def vehicle_label(self, vehicle_id: str) -> str:
        """``V07 · Truck 07 · Yara Kowal``: the vehicle, its name and its driver today."""
        state = self.context.state
        index = state.index
        vehicle = index.vehicles.get(vehicle_id) if index else None
        route = next((r for r in state.routes if r.vehicle_id == vehicle_id), None)
        driver = state.driver_for(route) if route is not None else None
        parts = [vehicle_id, vehicle.name if vehicle else "", driver.name if driver else ""]
        return " · ".join(p for p in parts if p)

    def _on_state_changed(self, changes) -> None:
        ctx = self.context
        if self.board is None and ctx.dispatch is not None and ctx.state.index is not None:
            index = ctx.state.index
            self.board = ProposalBoard(self.proposals, index.depot.id, index.day.day,
                                       parent=self)  # fmt: skip
            self.board.sig_changed.connect(self._emit_proposals)
            self.board.sig_decided.connect(self._on_my_proposal_decided)
            self._emit_proposals()
        if getattr(changes, "orders", None) or getattr(changes, "everything", False):
            self._cancelled_at = None  # read the cancelled orders again on the next search
            if self.search_dialog is not None and self.search_dialog.isVisible():
                self.search_dialog.refresh()  # hits show the order as it is now

    # -- running commands ------------------------------------------------------------------
    def _report(self, title: str, message: str) -> None:
        log.warning("%s: %s", title, message)
        self.dispatcher.sig_error.emit(title, message)  # one place the window says errors
        self.context.sig_status.emit(f"{title}: {message}")
        if not self.context.headless:
            QMessageBox.warning(self._parent, title, message)

    def _run(self, command):
        try:
            return command()
        except StaleVersionError as exc:  # the service shows the plan as stored now
            what = "plan" if exc.entity == "plan" else "route"
            self._report(f"Someone else changed this {what}", f"{exc}")
        except NotAllowed as exc:
            self._report("Not allowed for your role", str(exc))
        except (CommandRefused, KeyError, ValueError) as exc:
            self._report("Cannot do that", str(exc).strip("'\""))
        return None

    # -- add an urgent order ---------------------------------------------------------------
    def open_urgent_order(self) -> UrgentOrderDialog | None:
        """Orders ▸ Add urgent order…"""
        day = self._open_day()
        if day is None:
            return None
        dialog = UrgentOrderDialog(
            self.orders, day.plan, day.day, self.context.now(), self._zone(),
            self.insert_order, self.vehicle_label, self._parent, current=self._current,
        )  # fmt: skip
        return self._show(dialog)

    def insert_order(self, order: Order, option: InsertOption) -> bool:
        day = self._open_day()
        if day is None:
            return False
        now = self.context.now()
        result = self._run(lambda: self.orders.insert(day.plan, day.day, order, option, now))
        if not self.dispatcher.push(result):
            return False
        self.sig_focus_order.emit(order.id)
        return True

    # -- change or cancel an order ---------------------------------------------------------
    def _order(self, order_id: str) -> Order | None:
        index = self.context.state.index
        order = index.orders.get(order_id) if index else None
        if order is None:
            self._report("No such order", f"{order_id} is not an open order of this day")
        return order

    def _selected_order(self) -> str | None:
        selected = (
            self._parent.timeline_pane.selected if hasattr(self._parent, "timeline_pane") else []
        )
        return selected[0] if selected else None

    def open_change(self, order_id: str | None = None) -> OrderChangeDialog | None:
        """Orders ▸ Change order… (the selected stop, or the one named)."""
        return self._open_change(CHANGE, order_id)

    def open_cancel(self, order_id: str | None = None) -> OrderChangeDialog | None:
        """Orders ▸ Cancel order… (the selected stop, or the one named)."""
        return self._open_change(CANCEL, order_id)

    def _open_change(self, mode: str, order_id: str | None) -> OrderChangeDialog | None:
        day = self._open_day()
        if day is None:
            return None
        order_id = order_id or self._selected_order()
        if order_id is None:
            self.context.sig_status.emit("Select a stop first, or find the order (Ctrl+F)")
            self.open_search()
            return None
        order = self._order(order_id)
        if order is None:
            return None
        dialog = OrderChangeDialog(
            mode, order, self.orders, day.plan, day.day, self.context.now(),
            self._zone(), self.apply_change, self.vehicle_label, self._parent,
            current=self._current,
        )  # fmt: skip
        return self._show(dialog)

    def apply_change(self, mode: str, order: Order, impact: OrderImpact, reason: str) -> bool:
        day = self._open_day()
        if day is None:
            return False
        desk = self.orders
        if mode == CHANGE:
            result = self._run(lambda: desk.change(day.plan, day.day, order, impact))
        else:
            result = self._run(lambda: desk.cancel(day.plan, day.day, order.id,
                                                   reason=reason, impact=impact))  # fmt: skip
        return self.dispatcher.push(result)

    # -- find ------------------------------------------------------------------------------
    def search(self, text: str) -> list[OrderHit]:
        """Orders of the day (and cancelled ones) matching ``text``."""
        state = self.context.state
        index = state.index
        if index is None:
            return []
        if self._cancelled_at is None and self.context.dispatch is not None:
            found = self.context.dispatch.cancelled_orders(index.depot.id, index.day.day)
            self._cancelled = [c.order for c in found]
            self._cancelled_at = True
        return find_orders(text, index.orders, state.plan, ZoneInfo(self._zone()),
                           self._cancelled)  # fmt: skip

    def open_search(self) -> SearchDialog:
        """Edit ▸ Find order… (Ctrl+F): one dialog, raised again with its text selected."""
        if self.search_dialog is None:
            zone = ZoneInfo(self._zone())
            self.search_dialog = SearchDialog(
                self.search, self.vehicle_label,
                lambda moment: moment.astimezone(zone).strftime("%H:%M"), self._parent,
            )  # fmt: skip
            self.search_dialog.sig_hit_chosen.connect(self.sig_focus_order)
            self.search_dialog.sig_change_requested.connect(self.open_change)
            self.search_dialog.sig_cancel_requested.connect(self.open_cancel)
        self.search_dialog.open_for_search()
        self.last_dialog = self.search_dialog
        return self.search_dialog

    # -- import ----------------------------------------------------------------------------
    def open_import(self, start_dir: str = "") -> ImportDialog:
        """File ▸ Import…"""
        dialog = ImportDialog(self._run_import, self._on_imported, start_dir, self._parent)
        return self._show(dialog)

    def _run_import(self, paths: Sequence[str], options: ReadOptions, day: date | None,
                    progress) -> ImportReport:  # fmt: skip
        """On a worker thread: the same import as ``main.py import``, into this desk's
        database (the shared one when there is one)."""
        from app.importer.persist import import_sources
        from app.importer.reading import collect_sources
        from app.store import open_store

        ctx = self.context
        sources = collect_sources(paths)
        if not sources:
            raise FileNotFoundError(f"no .csv or .json files in {', '.join(paths)}")
        actor = f"import:{ctx.actor}"
        if ctx.sync is None:
            return import_sources(sources, ctx.store, day=day, actor=actor, options=options,
                                  progress=progress)  # fmt: skip
        from app.secrets import database_url_with_password

        store = open_store(database_url_with_password(ctx.settings.database_url),
                           workstation=ctx.settings.workstation_id)  # fmt: skip
        try:
            return import_sources(sources, store, day=day, actor=actor, options=options,
                                  progress=progress)  # fmt: skip
        finally:
            store.close()

    def _on_imported(self, report: ImportReport) -> None:
        """The day on screen takes the imported rows (its orders, vehicles, drivers)."""
        ctx = self.context
        index = ctx.state.index
        text = report.summary()
        if index is not None and report.imported and ctx.sync is None:
            text += " " + self.reload_day()
        elif report.imported and ctx.sync is not None:  # the rows went to the shared database
            text += " The desks read the new rows when they open the day again."
        ctx.sig_status.emit(text)

    def reload_day(self) -> str:
        """Show the day as stored now (after an import); say what is not on a route yet."""
        ctx = self.context
        index, service = ctx.state.index, ctx.dispatch
        if index is None or service is None:
            return ""
        day = service.load_day(index.depot.id, index.day.day)
        plan = service.open_day(day, index.depot.id, ChangeSource.IMPORT)
        if plan is None:
            if day.orders:
                ctx.plan_day(time_limit_s=ctx.settings.first_plan_seconds)
                return f"Planning the day's {len(day.orders)} orders…"
            return ""
        placed = {o for r in plan.routes for o in r.order_ids}
        placed |= {u.order_id for u in plan.unassigned}
        loose = [o.id for o in day.orders if o.id not in placed]
        if not loose:
            return ""
        return (f"{len(loose)} order(s) of today are on no route yet: Re-plan fleet (Ctrl+R) "
                "places them.")  # fmt: skip

    # -- proposals -------------------------------------------------------------------------
    def propose_move(self, order_ids, target_route_id: str) -> bool:
        """A dispatcher's move, stored for a supervisor instead of applied."""
        day = self._open_day()
        if day is None:
            return False
        ids = [order_ids] if isinstance(order_ids, str) else list(order_ids)
        sent = self._run(lambda: self.proposals.propose_move(
            day.plan, day.day, ids, target_route_id, self.context.now()))  # fmt: skip
        return self._sent(sent)

    def propose_replan(self, proposal, scope) -> bool:
        """A dispatcher's re-plan, stored for a supervisor instead of applied."""
        day = self._open_day()
        if day is None:
            return False
        sent = self._run(lambda: self.proposals.propose_replan(day.plan, proposal, scope))
        return self._sent(sent)

    def _sent(self, sent: StoredProposal | None) -> bool:
        if sent is None:
            return False
        self.context.sig_status.emit(f"Proposed to a supervisor: {sent.label}")
        if self.board is not None:
            self.board.refresh()
        return True

    def open_proposals(self) -> ProposalsDialog | None:
        """Plan ▸ Proposals…"""
        if self.board is None or self.context.dispatch is None:
            self.context.sig_status.emit("No day is open yet")
            return None
        self.unseen.clear()
        self._emit_proposals()
        dialog = ProposalsDialog(
            self.board, self._zone(), is_supervisor=self.context.dispatch.is_supervisor,
            on_accept=self.accept_proposal, on_reject=self.reject_proposal,
            on_withdraw=self.withdraw_proposal, parent=self._parent,
        )  # fmt: skip
        return self._show(dialog)

    def accept_proposal(self, item: StoredProposal) -> bool:
        day = self._open_day()
        if day is None:
            return False
        result = self._run(lambda: self.proposals.accept(
            day.plan, day.day, item.id, self.context.now()))  # fmt: skip
        return self.dispatcher.push(result)

    def reject_proposal(self, item: StoredProposal, note: str) -> bool:
        done = self._run(lambda: self.proposals.reject(item.id, note))
        if done is not None:
            self.context.sig_status.emit(f"Rejected: {item.label} ({item.author})")
        return done is not None

    def withdraw_proposal(self, item: StoredProposal) -> bool:
        done = self._run(lambda: self.proposals.withdraw(item.id))
        if done is not None:
            self.context.sig_status.emit(f"Withdrawn: {item.label}")
        return done is not None

    def proposals_text(self) -> str:
        """What the status bar says: ``Proposals: 2 pending · 1 of yours accepted``."""
        board = self.board
        if board is None or self.context.dispatch is None:
            return ""
        parts = []
        pending = len(board.pending)
        if pending or self.context.dispatch.is_supervisor:
            parts.append(f"{pending} pending")
        for status in ("accepted", "rejected"):
            n = sum(1 for p in self.unseen if p.status == status)
            if n:
                parts.append(f"{n} of yours {status}")
        return "Proposals: " + " · ".join(parts) if parts else ""

    def _emit_proposals(self) -> None:
        self.sig_proposals_changed.emit(self.proposals_text())

    def _on_my_proposal_decided(self, item: StoredProposal) -> None:
        what = {"accepted": "accepted", "rejected": "rejected"}.get(item.status, item.status)
        note = f": {item.note}" if item.note else ""
        self.context.sig_status.emit(f"Your proposal '{item.label}' was {what} by "
                                     f"{item.decided_by}{note}")  # fmt: skip
        self.unseen.append(item)  # said in the status bar until the list is opened
        self._emit_proposals()
        if item.status == "accepted" and self.context.dispatch is not None:
            self.context.dispatch.show_stored_plan()  # the supervisor's change, shown here

    # -- helpers ---------------------------------------------------------------------------
    def _show(self, dialog):
        self.last_dialog = dialog
        dialog.setModal(False)
        dialog.show()
        dialog.raise_()
        return dialog
