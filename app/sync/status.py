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

    @property
    def text(self) -> str:
        """A short status-bar text, e.g. ``offline - 3 edits waiting``."""
        parts = ["online" if self.online else "offline"]
        if self.pending:
            parts.append(f"{self.pending} edit{'s' if self.pending != 1 else ''} waiting")
        if self.conflicts:
            parts.append(f"{self.conflicts} sync conflict{'s' if self.conflicts != 1 else ''}")
        return " - ".join(parts)
