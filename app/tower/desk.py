"""This desk's heartbeat for the control tower, and the shared database the tower reads.

On a shared database the heartbeat also carries the demo fleet this desk simulates (its
broker and simulated clock), and tells another desk of the depot whether one already does
(``app.day.live_start`` follows it instead of simulating a second fleet)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.settings import Settings
from app.store import Store
from app.sync.identity import Identity
from app.sync.link import SyncLink

if TYPE_CHECKING:
    from app.store.tower import DemoClock, DemoDesk

log = logging.getLogger(__name__)


class DeskHeartbeat(QObject):
    """Every 10 s (off the window's thread) tells the tower who works here, on which depot,
    with how many commands waiting; the tower's feed reads :meth:`store`."""

    def __init__(
        self, settings: Settings, link: SyncLink, identity: Identity, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.settings, self.link, self.identity, self.local = settings, link, identity, link.store
        self.shared_url = link.session.shared_url if link.session is not None else None
        self.depot_id = ""
        self.demo: DemoClock | None = None  # the demo fleet this desk drives, advertised
        self._store: Store | None = None
        self._lock = threading.Lock()
        # One heartbeat written at a time, none after stop(): a beat under way when the desk
        # closed re-wrote its demo advert after the close had cleared it.
        self._beat_lock = threading.Lock()
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setInterval(10_000)
        self._timer.timeout.connect(self.beat)

    def start(self, depot_id: str) -> None:
        """Beat now and every 10 s for the depot this desk opened."""
        self.depot_id = depot_id
        self._stopped = False
        self.beat()
        self._timer.start()

    def store(self) -> Store:
        """The database every desk shares: the shared PostgreSQL, else this desk's own
        (opened on first use, from the tower's or the heartbeat's thread)."""
        if self.shared_url is None:
            return self.local
        with self._lock:
            if self._store is None:
                from app.store import open_store
                from app.sync.session import _with_timeout

                self._store = open_store(
                    _with_timeout(self.shared_url), workstation=self.settings.workstation_id,
                    migrate=False,
                )  # fmt: skip
            return self._store

    @property
    def shared(self) -> bool:
        """Other desks may work on this database (a shared PostgreSQL)."""
        return self.shared_url is not None

    def advertise(self, demo: DemoClock | None) -> None:
        """From now on (beginning with a beat now) the heartbeat tells the other desks of
        the depot that this desk drives ``demo`` (None: no longer)."""
        self.demo = demo
        self.beat()

    def other_desks(self) -> list[DemoDesk]:
        """The other desks online on this desk's depot, those driving a demo fleet first
        (read now; raises when the shared database cannot be read)."""
        from app.store.tower import other_desks

        with self.store().read_session() as session:
            return other_desks(session, self.depot_id, datetime.now(UTC),
                               workstation=self.settings.workstation_id,
                               user=self.identity.user)  # fmt: skip

    def beat(self) -> None:
        """This desk's heartbeat for the control tower, off the window's thread."""
        if not self.depot_id:
            return
        from app.tower.feed import desk_beat

        workstation, depot_id, outbox = (
            self.settings.workstation_id,
            self.depot_id,
            self.link.outbox_pending(),
        )
        user, role, demo = self.identity.user, self.identity.role, self.demo

        def write() -> None:
            with self._beat_lock:
                if self._stopped:
                    return
                try:
                    store = self.store()
                except Exception as exc:  # offline: the next beat tries again
                    log.debug("desk heartbeat: shared database unreachable: %s", exc)
                    with self._lock:
                        self._store = None
                    return
                desk_beat(store, workstation=workstation, user=user, role=role,
                          depot_id=depot_id, outbox=outbox, demo=demo)  # fmt: skip

        threading.Thread(target=write, name="desk-beat", daemon=True).start()

    def stop(self) -> None:
        """No more beats; the shared database's connection is closed."""
        self._timer.stop()
        with self._beat_lock, self._lock:  # after a beat under way, and the last one
            self._stopped = True
            if self._store is not None and self.demo is not None:
                from app.tower.feed import desk_beat

                # The demo fleet stops with this desk: no other desk should try to follow it.
                self.demo = None
                desk_beat(self._store, workstation=self.settings.workstation_id,
                          user=self.identity.user, role=self.identity.role,
                          depot_id=self.depot_id, outbox=self.link.outbox_pending())  # fmt: skip
            if self._store is not None:
                self._store.close()
                self._store = None
