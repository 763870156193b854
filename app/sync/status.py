"""What the status bar shows about sharing: online or not, commands waiting, last error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SyncStatus:
    """Online/offline, outbox commands not yet answered, open sync conflicts, last error."""

    online: bool
    pending: int = 0
    conflicts: int = 0
    last_error: str = ""
    last_sync: datetime | None = None
    failed: int = 0  # commands held back: they failed for a reason other than a conflict
    problem: str = ""  # the sync itself failed for a reason other than the network

    @property
    def healthy(self) -> bool:
        """Online with nothing held back and no sync problem."""
        return self.online and not self.failed and not self.problem

    @property
    def text(self) -> str:
        """A short status-bar text, e.g. ``offline - 3 edits waiting``."""
        parts = ["offline" if not self.online else "sync problem" if not self.healthy else "online"]
        waiting = self.pending - self.failed
        if waiting > 0:
            parts.append(f"{waiting} edit{'s' if waiting != 1 else ''} waiting")
        if self.failed:
            parts.append(f"{self.failed} edit{'s' if self.failed != 1 else ''} not sent (see "
                         "Exceptions)")  # fmt: skip
        if self.conflicts:
            parts.append(f"{self.conflicts} sync conflict{'s' if self.conflicts != 1 else ''}")
        return " - ".join(parts)
