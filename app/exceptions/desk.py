"""Acknowledging and resolving exceptions by hand: stored (and synced) first, then shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.day.state import DayState
from app.exceptions.board import ExceptionBoard
from app.store.repository_exceptions import ACKNOWLEDGE, RESOLVE, exception_snapshot
from app.sync.commands import exception_command
from app.sync.link import SyncLink


class ExceptionDesk:
    """The window's hand on the exception board: each action a command through the link."""

    def __init__(
        self, board: ExceptionBoard, state: DayState, link: SyncLink, *,
        now: Callable[[], datetime], actor: str,
    ):  # fmt: skip
        self.board, self.state, self.link, self.actor = board, state, link, actor
        self._now = now

    def acknowledge(self, exception_id: str) -> bool:
        """Acknowledge an exception: stored (who, when, in the change log), then shown.
        False when it was acknowledged already (or is not on the board)."""
        return self._set_state(exception_id, ACKNOWLEDGE)

    def resolve(self, exception_id: str) -> bool:
        """Resolve an exception by hand (acknowledging it too): stored, then shown."""
        return self._set_state(exception_id, RESOLVE)

    def _set_state(self, exception_id: str, action: str) -> bool:
        entry = self.board.get(exception_id)
        index = self.state.index
        if entry is None or index is None:
            return False
        if (entry.acknowledged_at is not None and action == ACKNOWLEDGE) or not entry.is_open:
            return False
        at, actor = self._now(), self.actor
        command = exception_command(
            index.depot.id, index.day.day, exception_id, action, at=at, actor=actor,
            snapshot=exception_snapshot(entry.exception),
        )  # fmt: skip
        self.link.record_exception_state(command)  # raises: nothing is shown as done
        if action == ACKNOWLEDGE:
            return self.board.acknowledge(exception_id, at, actor)
        return self.board.resolve(exception_id, at, actor)
