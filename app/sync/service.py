"""Keep a desk in sync in the background: replay after each command, on the shared
database's doorbell, and every ``retry_s`` while offline; publish ``SyncStatus`` each time.

The workstation starts one ``SyncService`` per desk; its thread is the only one that talks
to the shared database for the outbox, so commands never wait on the network.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from app.sync.follower import ChangeEvent, ChangeFollower
from app.sync.offline import OfflineDesk

log = logging.getLogger(__name__)


class SyncService:
    """Runs ``desk.sync()`` on its own thread whenever there may be something to do."""

    def __init__(self, desk: OfflineDesk, *, retry_s: float = 2.0, follow: bool = True) -> None:
        self.desk = desk
        self.retry_s = retry_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-service", daemon=True)
        self._follower: ChangeFollower | None = None
        self._follow = follow and desk.shared_url is not None

    def start(self) -> SyncService:
        self._thread.start()
        if self._follow:
            self._follower = ChangeFollower(
                self.desk.shared(), self._on_changes, on_status=lambda *_: self.poke()
            )
            self._follower.start(catch_up_first=False)
        return self

    def poke(self) -> None:
        """Sync soon (after a command, or when the shared database may be back)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._follower is not None:
            self._follower.stop(timeout)
        self._thread.join(timeout)

    def _on_changes(self, events: Sequence[ChangeEvent]) -> None:
        if any(e.origin != self.desk.workstation for e in events):
            self.poke()  # someone else changed something: catch the local copy up

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.desk.sync()
            except Exception:  # sync() reports its own failures; this is a last guard
                log.exception("sync failed")
                report = None
            # Offline or commands waiting: soon again. A sync problem that is not the
            # network (held commands, a failing catch-up) waits for a command or the
            # shared database's doorbell instead of a retry loop.
            retry = report is not None and not report.problem
            retry = retry and report is not None and (not report.online or report.pending > 0)
            self._wake.wait(self.retry_s if retry else 30.0)
            self._wake.clear()
