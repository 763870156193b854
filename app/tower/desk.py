"""This desk's heartbeat for the control tower, and the shared database the tower reads."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QTimer

from app.settings import Settings
from app.store import Store
from app.sync.identity import Identity
from app.sync.link import SyncLink

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
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(10_000)
        self._timer.timeout.connect(self.beat)

    def start(self, depot_id: str) -> None:
        """Beat now and every 10 s for the depot this desk opened."""
        self.depot_id = depot_id
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
        user, role = self.identity.user, self.identity.role

        def write() -> None:
            try:
                store = self.store()
            except Exception as exc:  # offline: the next beat tries again
                log.debug("desk heartbeat: shared database unreachable: %s", exc)
                with self._lock:
                    self._store = None
                return
            desk_beat(store, workstation=workstation, user=user, role=role,
                      depot_id=depot_id, outbox=outbox)  # fmt: skip

        threading.Thread(target=write, name="desk-beat", daemon=True).start()

    def stop(self) -> None:
        """No more beats; the shared database's connection is closed."""
        self._timer.stop()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
