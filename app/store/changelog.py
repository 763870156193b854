"""The change log: one row per change, written in the same transaction as the change.

Call ``log_change`` beside every write; ``read_changes`` follows the log from a cursor.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.store.models import ChangeLogRow

OPERATIONS = ("insert", "update", "delete")


def session_now(session: Session) -> datetime:
    """When a write in ``session`` happens: on its store's clock (``Store.clock``: the
    desk's day clock, simulated in the demo), else the wall clock."""
    now = session.info.get("now")
    return now() if now is not None else datetime.now(UTC)


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

    The origin is the session's workstation (``Store(workstation=...)``, default the host);
    ``at`` is on the store's clock (``session_now``).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"change log: operation must be one of {OPERATIONS}, got {operation!r}")
    row = ChangeLogRow(
        entity=entity,
        entity_id=str(entity_id),
        operation=operation,
        origin=session.info.get("workstation") or socket.gethostname(),
        actor=actor,
        at=session_now(session),
        before=before,
        after=after,
    )
    session.add(row)
    return row


def last_change_id(session: Session, entity: str | None = None) -> int:
    """The id of the newest change-log row about ``entity`` (any: None; 0: none yet)."""
    query = select(func.max(ChangeLogRow.id))
    if entity is not None:
        query = query.where(ChangeLogRow.entity == entity)
    return int(session.scalar(query) or 0)


def rows_mark(session: Session, id_column: Any) -> tuple[int, int]:
    """How many rows a table of rows only ever added holds, and the newest one's id: it
    changes whenever one commits (on PostgreSQL a lower id can commit after a higher one:
    the count still moves), so a reader can keep what it computed until it does."""
    count, newest = session.execute(select(func.count(id_column), func.max(id_column))).one()
    return int(count), int(newest or 0)


def change_mark(session: Session) -> tuple[int, int]:
    """:func:`rows_mark` of the change log: it moves with every change stored."""
    return rows_mark(session, ChangeLogRow.id)


def changes_between(
    session: Session, since: tuple[int, int], now: tuple[int, int]
) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] | None:
    """(entity, before, after) of each change stored after the :func:`change_mark`
    ``since`` up to the mark ``now``, oldest first; None when they cannot all be told
    apart by id (on PostgreSQL a lower id can commit after a higher one was read: the
    count then says a row is missing) or the log was cut meanwhile."""
    (count_then, newest_then), (count_now, newest_now) = since, now
    if count_now < count_then or newest_now < newest_then:
        return None
    rows = session.execute(
        select(ChangeLogRow.entity, ChangeLogRow.before, ChangeLogRow.after)
        .where(ChangeLogRow.id > newest_then, ChangeLogRow.id <= newest_now)
        .order_by(ChangeLogRow.id)
    ).all()
    if len(rows) != count_now - count_then:
        return None
    return [(r[0], r[1], r[2]) for r in rows]


@dataclass(frozen=True)
class ChangeCursor:
    """Where a follower stands in the change log.

    SQLite: ``last_id``, the newest id read (writers are serialised, so ids commit in
    order). PostgreSQL: ``snapshot``, the ``pg_snapshot`` of the last read; the next read
    returns exactly the rows whose transaction committed since, even when a transaction
    with a lower id commits after one with a higher id (an id cursor would miss it).
    """

    last_id: int = 0
    snapshot: str | None = None


def read_changes(
    session: Session, cursor: ChangeCursor | None = None
) -> tuple[list[ChangeLogRow], ChangeCursor]:
    """The change-log rows committed since ``cursor`` (all of them for None), oldest first,
    and the cursor to pass next time. Start every reconnect with a call to catch up.

    Use a read-only session (``Store.read_session``): on PostgreSQL the session's own
    uncommitted rows would count as committed."""
    cursor = cursor or ChangeCursor()
    if session.get_bind().dialect.name != "postgresql":
        rows = list(
            session.scalars(
                select(ChangeLogRow)
                .where(ChangeLogRow.id > cursor.last_id)
                .order_by(ChangeLogRow.id)
            )
        )
        return rows, ChangeCursor(last_id=rows[-1].id if rows else cursor.last_id)
    snapshot = session.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
    now = text("pg_visible_in_snapshot(change_log.txid, CAST(:now AS pg_snapshot))")
    query = select(ChangeLogRow).where(now).order_by(ChangeLogRow.txid, ChangeLogRow.id)
    params = {"now": snapshot}
    if cursor.snapshot is not None:
        query = query.where(
            ChangeLogRow.txid >= text("pg_snapshot_xmin(CAST(:before AS pg_snapshot))"),
            text("NOT pg_visible_in_snapshot(change_log.txid, CAST(:before AS pg_snapshot))"),
        )
        params["before"] = cursor.snapshot
    rows = list(session.scalars(query, params))
    last_id = max((r.id for r in rows), default=cursor.last_id)
    return rows, ChangeCursor(last_id=last_id, snapshot=snapshot)
