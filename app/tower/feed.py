"""The control tower's feed: every depot's figures from the database the desks share, read
in the background every few seconds; when it cannot be read, the last known figures stay,
marked with the time they are from. Also each desk's heartbeat into that database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from app.store import Store
from app.store.tower import DemoClock, DepotFigures, beat, tower_figures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TowerState:
    """What the tower shows: the figures, when they were read (the wall clock, UTC), the
    moment of the day they are for (the day's clock: simulated in the demo, else the wall
    clock), and whether that read was now."""

    figures: tuple[DepotFigures, ...]
    read_at: datetime | None
    online: bool
    error: str = ""
    seconds: float = 0.0  # how long the read took
    as_of: datetime | None = None  # the day's clock when read (what the figures count to)


def read_figures(store: Store, now: datetime | None = None) -> list[DepotFigures]:
    with store.read_session() as session:
        return tower_figures(session, now or datetime.now(UTC))


class TowerFeed(QObject):
    """Reads the figures every ``interval_s`` in a worker thread; ``sig_state`` on each read."""

    sig_state = Signal(object)  # TowerState

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        interval_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        local: Store | None = None,
        wall: Callable[[], datetime] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``clock``: the day's clock (the figures are for its moment); ``wall``: the real
        time a read is stamped with (default the system clock, UTC). ``local``: this desk's
        own copy, read when the shared database cannot be and nothing was read from it yet
        (a desk started offline)."""
        super().__init__(parent)
        self._store_factory = store
        self._local = local
        self._store: Store | None = None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.wall = wall or (lambda: datetime.now(UTC))
        self.state = TowerState((), None, False, "not read yet")
        self._busy = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_s * 1000))
        self._timer.timeout.connect(self.refresh)

    def start(self) -> None:
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        """Read in the background (a read still running is not doubled)."""
        if not self._busy.acquire(blocking=False):
            return
        threading.Thread(target=self._read, name="tower", daemon=True).start()

    def read_now(self) -> TowerState:
        """Read on the calling thread (the bench, tests)."""
        with self._busy:
            return self._do_read()

    def _read(self) -> None:
        try:
            state = self._do_read()
        finally:
            self._busy.release()
        self.sig_state.emit(state)

    def _do_read(self) -> TowerState:
        started = time.perf_counter()
        as_of = self.clock()
        try:
            if self._store is None:
                self._store = self._store_factory()
            figures = read_figures(self._store, as_of)
        except Exception as exc:  # unreachable or broken: keep the last known figures
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("control tower: cannot read the shared database: %s", first)
            self._store = None
            last = self.state
            if not last.figures and self._local is not None:
                try:  # started offline: what this desk's own copy knows
                    local = read_figures(self._local, as_of)
                except Exception:
                    local = []
                if local:
                    self.state = TowerState(tuple(local), self.wall(), False,
                                            f"this desk's copy only; {first[:160]}",
                                            as_of=as_of)  # fmt: skip
                    return self.state
            # The last known figures keep the time they were read (not this attempt's).
            self.state = TowerState(last.figures, last.read_at, False, first[:200],
                                    as_of=last.as_of)  # fmt: skip
            return self.state
        self.state = TowerState(
            tuple(figures), self.wall(), True, "", time.perf_counter() - started, as_of
        )
        return self.state


def desk_beat(
    store: Store, *, workstation: str, user: str, role: str, depot_id: str, outbox: int,
    demo: DemoClock | None = None,
) -> None:  # fmt: skip
    """Write this desk's heartbeat (best effort: offline, the next one tries again)."""
    try:
        with store.session() as session:
            beat(session, workstation=workstation, user=user, role=role, depot_id=depot_id,
                 now=datetime.now(UTC), outbox_pending=outbox, demo=demo)  # fmt: skip
    except Exception as exc:
        log.debug("desk heartbeat not written: %s", exc)
