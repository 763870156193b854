"""The change log: one row per change, written in the same transaction as the change.

Call ``log_change`` beside every write; ``changes_after`` reads the log for a follower.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import ChangeLogRow

OPERATIONS = ("insert", "update", "delete")


def log_change(
    session: Session,
    entity: str,
    entity_id: str,
    operation: str,
    *,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ChangeLogRow:
    """Add a change-log row to ``session`` (flushed and committed with the change itself).

    The origin is the session's workstation (``Store(workstation=...)``, default the host).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"change log: operation must be one of {OPERATIONS}, got {operation!r}")
    row = ChangeLogRow(
        entity=entity,
        entity_id=str(entity_id),
        operation=operation,
        origin=session.info.get("workstation") or socket.gethostname(),
        actor=actor,
        at=datetime.now(UTC),
        before=before,
        after=after,
    )
    session.add(row)
    return row


def changes_after(session: Session, last_id: int = 0, *, limit: int = 1000) -> list[ChangeLogRow]:
    """Change-log rows with ``id > last_id`` in id order (SQLite, or a PostgreSQL catch-up).

    On PostgreSQL ids are handed out before commit, so a follower that must not miss rows
    committed out of order filters on ``txid`` against a remembered snapshot xmin instead.
    """
    query = (select(ChangeLogRow).where(ChangeLogRow.id > last_id).order_by(ChangeLogRow.id)).limit(
        limit
    )
    return list(session.scalars(query))
