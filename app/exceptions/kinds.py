"""The kinds of exception the workstation raises itself, beside the engine's rules."""

from __future__ import annotations

import enum


class DeskExceptionType(enum.StrEnum):
    """Exceptions about the workstation's own work (``engine.rules.ExceptionType`` has the
    ones about the road)."""

    SYNC_CONFLICT = "sync_conflict"  # an edit waiting offline met another desk's change
    SYNC_FAILED = "sync_failed"  # an edit could not be sent for another reason: held back
