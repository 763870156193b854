"""Commands from the panes to the dispatch service: drag-reassign, re-plan, undo and redo.

Every plan-changing command runs through ``app.dispatch.service.DispatchService``, which
writes it, shows it in the day state and broadcasts it once; here it lands on one
QUndoStack as a command whose undo/redo are version-checked commands too. Errors (a stale
edit by another workstation, a role that may not, a locked stop) are shown, never hidden.
"""

from __future__ import annotations

import logging
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QMessageBox, QWidget

from app.context import AppContext
from app.dispatch.service import CommandRefused, CommandResult, NotAllowed, UndoRecord
from app.store import StaleVersionError
from engine.model import RouteStatus

log = logging.getLogger(__name__)


class Proposer(Protocol):
    """Stores a change for a supervisor instead of applying it (True: sent)."""

    def propose_move(self, order_ids, target_route_id: str) -> bool: ...
    def propose_replan(self, proposal, scope) -> bool: ...


class DispatchUndoCommand(QUndoCommand):
    """One applied command; undo/redo apply the service's undo records in turn."""

    def __init__(self, controller: DispatchController, result: CommandResult):
        super().__init__(result.label)
        self._controller = controller
        self._record: UndoRecord = result.undo
        self._first_redo = True  # the command already ran when it was pushed

    def undo(self) -> None:
        self._apply()

    def redo(self) -> None:
        if self._first_redo:
            self._first_redo = False
            return
        self._apply()

    def _apply(self) -> None:
        """Apply the record; refused (someone else changed the routes since, a role that
        may not), the entry leaves the stack: it would only fail again."""
        reverse = self._controller.apply_record(self._record)
        if reverse is None:
            self.setObsolete(True)
            return
        self._record = reverse


class DispatchController(QObject):
    """Runs commands for the window and keeps the undo stack."""

    sig_error = Signal(str, str)  # title, message

    def __init__(self, context: AppContext, parent_widget: QWidget):
        super().__init__(parent_widget)
        self.context = context
        self._parent = parent_widget
        self.undo_stack = QUndoStack(self)
        #: Sends what this user's role may not do to a supervisor as a proposal (a move, a
        #: fleet re-plan); None: refused as before. The window sets its OrdersController.
        self.proposer: Proposer | None = None
        #: Asks the person a yes/no question (title, text) before a move that breaks a rule
        #: (an overloaded vehicle). Without a screen to ask on, the answer is no.
        self.ask = self._ask
        self.last_question = ""
        self._announced: tuple[str, ...] = ()  # the routes of the drag said to other desks

    # -- previews (called on every mouse move of a drag) ----------------------------------
    def preview_text(self, order_ids, target_route_id: str) -> str:
        state, service = self.context.state, self.context.dispatch
        if service is None or state.plan is None or state.index is None:
            return ""
        ids = [order_ids] if isinstance(order_ids, str) else list(order_ids)
        self._announce_drag(ids, target_route_id)
        try:
            preview = service.preview_reassign(
                state.plan, state.index.day, ids, target_route_id, self.context.now()
            )
        except Exception as exc:  # a preview must never break the drag
            log.warning("preview failed: %s", exc)
            return f"cannot preview: {exc}"
        text = preview.summary
        if not service.is_supervisor and self._proposes(service) and preview.allowed:
            text = f"Propose to a supervisor: {text}"
        if len(ids) == 1:  # which stop, as a person knows it: customer, street, window
            labels = state.labels
            heading = labels.customer(ids[0])
            if heading != ids[0]:
                window = labels.window(ids[0])
                text = f"{heading}" + (f" · window {window}" if window else "") + f"\n{text}"
        return text

    # -- commands -----------------------------------------------------------------------
    def reassign(self, order_ids, target_route_id: str) -> bool:
        """Move stops onto a route (supervisor); pushes one undoable command."""
        state, service = self.context.state, self.context.dispatch
        if service is None or state.plan is None or state.index is None:
            return False
        ids = [order_ids] if isinstance(order_ids, str) else list(order_ids)
        route = state.route(target_route_id)
        if route is not None and all(oid in route.order_ids for oid in ids):
            return False  # dropped where it already is
        if not self._overload_accepted(ids, target_route_id):
            return False
        if not service.is_supervisor and self.proposer is not None and self._proposes(service):
            return self.proposer.propose_move(ids, target_route_id)  # a supervisor decides
        released = self._released_at_dock(ids, target_route_id)
        if released:  # its van is loaded to match: a change is decided as a proposal
            if self.proposer is None or not self._proposes(service):
                self.sig_error.emit("Released route", f"{', '.join(released)} is released and "
                                    "not yet on the road: it changes only through a proposal, "
                                    "which this desk cannot send on a shared database")  # fmt: skip
                return False
            return self.proposer.propose_move(ids, target_route_id)
        result = self._run(
            lambda: service.reassign(
                state.plan, state.index.day, ids, target_route_id, self.context.now()
            )
        )
        return self._push(result)

    def _released_at_dock(self, order_ids: list[str], target_route_id: str) -> list[str]:
        """Routes the move touches that are released and not yet on the road."""
        state = self.context.state
        plan = state.plan
        touched = {target_route_id}
        if plan is not None:
            touched |= {r.id for oid in order_ids if (r := plan.route_of(oid)) is not None}
        return sorted(rid for rid in touched
                      if (r := state.route(rid)) is not None and r.status is RouteStatus.RELEASED)  # fmt: skip

    def accept_proposal(self, proposal, scope) -> bool:
        """Accept a re-plan; one the user's role may not accept goes to a supervisor."""
        state, service = self.context.state, self.context.dispatch
        if service is None or state.plan is None:
            return False
        if not service.may_accept(scope) and self.proposer is not None and self._proposes(service):
            return self.proposer.propose_replan(proposal, scope)
        return self._push(
            self._run(lambda: service.accept_proposal(state.plan, proposal, scope=scope))
        )

    def set_locked(self, order_ids, locked: bool) -> bool:
        state, service = self.context.state, self.context.dispatch
        if service is None or state.plan is None:
            return False
        return self._push(
            self._run(lambda: service.set_locked(state.plan, list(order_ids), locked))
        )

    def apply_record(self, record: UndoRecord) -> UndoRecord | None:
        """Undo or redo: apply a record; returns the record that reverses it."""
        state, service = self.context.state, self.context.dispatch
        result = self._run(lambda: service.apply_undo(state.plan, record))
        if result is None:
            return None
        self.context.sig_status.emit(record.text)  # "Undo Move O7 to V3": said, as the move was
        return result.undo

    # -- helpers ------------------------------------------------------------------------
    def _announce_drag(self, ids: list[str], target_route_id: str) -> None:
        """Both routes of a drag are being edited: the other desks see it on each (said
        again only when the target changes)."""
        plan = self.context.state.plan
        source = plan.route_of(ids[0]) if plan is not None and ids else None
        routes = tuple(dict.fromkeys(r for r in (source.id if source else None,
                                                 target_route_id) if r))  # fmt: skip
        if routes and routes != self._announced:
            self._announced = routes
            self.context.link.announce_editing(routes)

    def drag_ended(self) -> None:
        self._announced = ()

    def _overload_accepted(self, ids: list[str], target_route_id: str) -> bool:
        """A move that would overload the target vehicle, or take stops whose goods the
        dock loaded onto their van (they must be unloaded there), is asked about first."""
        state, service = self.context.state, self.context.dispatch
        if service is None or state.plan is None or state.index is None:
            return True
        try:
            preview = service.preview_reassign(state.plan, state.index.day, ids,
                                               target_route_id, self.context.now())  # fmt: skip
        except Exception as exc:  # the command itself says what is wrong
            log.warning("no preview before the move: %s", exc)
            return True
        if preview.warnings and not self._loaded_accepted(preview.warnings[0]):
            return False
        target = preview.target
        if target is None or not target.capacity_excess:
            return True
        over = ", ".join(
            f"{dim} over by {x:g}" for dim, x in sorted(target.capacity_excess.items())
        )
        vehicle = state.labels.vehicle(target.vehicle_id)
        what = f"{len(ids)} stops" if len(ids) > 1 else ids[0]
        if len(ids) == 1 and (customer := state.labels.customer(ids[0])) != ids[0]:
            what = f"{customer} ({ids[0]})"
        text = (f"Moving {what} to {vehicle} overloads the vehicle: {over}.\n"
                "Move it anyway?")  # fmt: skip
        self.last_question = text
        if self.ask("Overloaded vehicle", text):
            return True
        self.context.sig_status.emit(f"Not moved: {vehicle} would be overloaded ({over})")
        return False

    def _loaded_accepted(self, warning: str) -> bool:
        """Stops whose goods are on another van: moved only when the person says so (a
        supervisor's deliberate choice; the dock unloads them)."""
        text = f"{warning}.\nMove anyway?"
        self.last_question = text
        if self.ask("Goods already loaded", text):
            return True
        self.context.sig_status.emit(f"Not moved: {warning.removeprefix('Goods on the van: ')}")
        return False

    def _ask(self, title: str, text: str) -> bool:
        if self.context.headless:
            return False
        answer = QMessageBox.question(self._parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _proposes(self, service) -> bool:
        """Whether what the role may not do goes to a supervisor as a proposal: not on a
        shared database yet (its outbox does not carry proposals), where it is refused."""
        return self.proposer is not None and not service.queues_commands

    def push(self, result: CommandResult | None) -> bool:
        """Put a command the service ran (and showed) on the undo stack (False: it did not
        run)."""
        return self._push(result)

    def _push(self, result: CommandResult | None) -> bool:
        if result is None:
            return False
        if not result.command_id:  # nothing written (the routes were already so): no entry
            self.context.sig_status.emit(f"{result.label}: nothing to change")
            return True
        self.undo_stack.push(DispatchUndoCommand(self, result))
        self.context.sig_status.emit(result.label)
        return True

    def _run(self, command) -> CommandResult | None:
        try:
            return command()
        except StaleVersionError as exc:  # the service shows the plan as stored now
            self._report("Someone else changed this route", _stale_text(exc))
        except NotAllowed as exc:
            self._report("Not allowed for your role", str(exc))
        except CommandRefused as exc:
            self._report("Cannot do that", str(exc))
        return None

    def _report(self, title: str, message: str) -> None:
        log.warning("%s: %s", title, message)
        self.sig_error.emit(title, message)  # the window shows it (status line, longer)
        if not self.context.headless:
            QMessageBox.warning(self._parent, title, message)


def _stale_text(exc: StaleVersionError) -> str:
    lines = [str(exc)]
    ours = getattr(exc, "ours", None)
    theirs = getattr(exc, "theirs", None)
    if ours:
        lines.append("Your edit: " + "; ".join(f"{r.id}: {' '.join(r.order_ids)}" for r in ours))
    if theirs is not None:
        ids = {r.id for r in ours or ()}
        stored = [r for r in getattr(theirs, "routes", ()) if r.id in ids]
        if stored:
            lines.append(
                "Stored now: " + "; ".join(f"{r.id}: {' '.join(r.order_ids)}" for r in stored)
            )
    lines.append("The plan now shows the stored version; redo your edit on it if it still fits.")
    return "\n".join(lines)
