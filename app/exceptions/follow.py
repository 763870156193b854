"""Other desks' acknowledgements and resolutions on this desk's exception board.

Every desk runs the rules itself, so the same condition (a late stop, a silent vehicle)
is on each desk's board under an id of its own (the id holds when that desk saw it). A
person acknowledging or resolving it on one desk writes the change log of the database
the desks share (the shared database, or one SQLite file); :class:`OthersOnTheBoard`
follows that log on its own thread and, for each exception another workstation changed,
acknowledges or resolves the open entry of the same condition here, naming who did it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from app.exceptions.board import ExceptionBoard
from app.store import Store
from app.store.changelog import ChangeCursor, last_change_id
from app.store.repository_exceptions import ENTITY, handled_states
from app.sync.follower import ChangeEvent, ChangeFollower
from engine.rules import condition_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HandledElsewhere:
    """An exception a person acknowledged (and maybe resolved) on another desk."""

    key: tuple[str, str, str]  # its condition: (type, vehicle, order)
    acknowledged_at: datetime | None
    acknowledged_by: str
    resolved_at: datetime | None
    resolved_by: str


class OthersOnTheBoard(QObject):
    """Follows the shared change log for exceptions other desks handled (see the module)."""

    _sig_handled = Signal(object)  # list[HandledElsewhere], from the follower's thread

    def __init__(
        self, board: ExceptionBoard, store: Store, workstation: str, *,
        poll_s: float = 1.0, parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.board, self.store, self.workstation = board, store, workstation
        cursor = None
        if store.dialect == "sqlite":  # from the newest row: the log before is not read at all
            with store.read_session() as session:
                cursor = ChangeCursor(last_id=last_change_id(session))
        self._follower = ChangeFollower(store, self._on_changes, cursor=cursor, poll_s=poll_s)
        self._sig_handled.connect(self.apply)
        self._started = False

    def start(self) -> OthersOnTheBoard:
        """Follow what commits from now on (what was stored before, the board has)."""
        if not self._started:
            self._started = True
            self._follower.start(catch_up_first=False)
        return self

    def stop(self) -> None:
        if self._started:
            self._follower.stop()

    def _on_changes(self, events: Sequence[ChangeEvent]) -> None:
        """On the follower's thread: read the exceptions other workstations changed."""
        ids = [e.entity_id for e in events if e.entity == ENTITY and e.origin != self.workstation]
        if not ids:
            return
        with self.store.read_session() as session:
            states = handled_states(session, ids)
        handled = [HandledElsewhere(*s) for s in states]
        with contextlib.suppress(RuntimeError):  # the desk is closing
            self._sig_handled.emit(handled)

    def apply(self, handled: list[HandledElsewhere]) -> int:
        """Acknowledge or resolve the open entries of the same conditions; how many changed."""
        open_by_key = {condition_key(e.exception): e for e in self.board.open_entries()}
        changed = 0
        for h in handled:
            entry = open_by_key.get(h.key)
            if entry is None:
                continue
            if h.resolved_at is not None:
                changed += self.board.resolve(entry.exception.id, h.resolved_at, h.resolved_by)
            elif h.acknowledged_at is not None:
                changed += self.board.acknowledge(
                    entry.exception.id, h.acknowledged_at, h.acknowledged_by
                )
        if changed:
            log.info("exceptions: %d handled on another desk", changed)
        return changed
