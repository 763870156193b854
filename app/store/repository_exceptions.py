"""The day's exceptions as stored: read back at a restart, acknowledged and resolved by people.

The rules write their exceptions as they open, change and clear
(``app.telemetry.persist.save_exception_changes``). What a person does with one — acknowledge
it, resolve it — is written here, on the exception's row (who and when) and in the change
log, in one transaction; on a shared database the same write arrives through the outbox
(``app.sync.commands``, kind ``exception_state``), so it is kept while the desk is offline.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.changelog import log_change
from app.store.models import ExceptionRow
from engine.rules import ExceptionType, LiveException, Severity, condition_key

ENTITY = "exception"  # the change log's name of an exception row
ACKNOWLEDGE, RESOLVE = "acknowledge", "resolve"
ACTIONS = (ACKNOWLEDGE, RESOLVE)
DUPLICATE = "duplicate of "  # resolved_by of a second open row of one condition
SYNC_CONFLICT = "sync_conflict"  # the sync's own exceptions (shown by the sync link)


@dataclass(frozen=True)
class StoredException:
    """An exception as stored: what it is about, and who acknowledged it when."""

    exception: LiveException
    acknowledged_at: datetime | None
    acknowledged_by: str
    resolved_by: str


def _kind(value: str, kinds: tuple[type[enum.StrEnum], ...]) -> enum.StrEnum | None:
    for kind in kinds:
        try:
            return kind(value)
        except ValueError:
            continue
    return None


def _live(row: ExceptionRow, kinds: tuple[type[enum.StrEnum], ...]) -> LiveException | None:
    kind = _kind(row.type, kinds)
    if kind is None:
        return None
    try:
        severity = Severity(row.severity)
    except ValueError:
        return None
    return LiveException(row.id, kind, severity, row.vehicle_id, row.order_id, row.detected_at,
                         row.detail, row.suggested_action, None, row.resolved_at)  # fmt: skip


def _day_rows(session: Session, since: datetime, until: datetime, *, resolved: bool):
    """The rows detected in ``[since, until)``, resolved or still open, oldest first; not
    the sync's conflicts (the sync shows those)."""
    state = (
        ExceptionRow.resolved_at.is_not(None) if resolved else ExceptionRow.resolved_at.is_(None)
    )
    return session.scalars(
        select(ExceptionRow)
        .where(
            state,
            ExceptionRow.type != SYNC_CONFLICT,
            ExceptionRow.detected_at >= since,
            ExceptionRow.detected_at < until,
        )
        .order_by(ExceptionRow.detected_at, ExceptionRow.id)
    )


def open_exceptions(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    actor: str,
    kinds: tuple[type[enum.StrEnum], ...] = (ExceptionType,),
) -> list[StoredException]:
    """The exceptions detected in ``[since, until)`` and still open, oldest first (sync
    conflicts are the sync's). A condition stored open twice (an earlier version numbered
    its exceptions per start) keeps its oldest row; the others are resolved here as
    duplicates of it, in the change log too."""
    rows = _day_rows(session, since, until, resolved=False)
    out: list[StoredException] = []
    kept: dict[tuple[str, str, str], LiveException] = {}
    for row in rows:
        exc = _live(row, kinds)
        if exc is None:
            continue
        key = condition_key(exc)
        first = kept.get(key)
        if first is not None:
            row.resolved_at = row.detected_at
            row.resolved_by = DUPLICATE + first.id
            log_change(session, ENTITY, row.id, "update", actor=actor,
                       after={"resolved_by": row.resolved_by})  # fmt: skip
            continue
        kept[key] = exc
        out.append(StoredException(exc, row.acknowledged_at, row.acknowledged_by,
                                   row.resolved_by))  # fmt: skip
    return out


def resolved_exceptions(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    kinds: tuple[type[enum.StrEnum], ...] = (ExceptionType,),
) -> list[StoredException]:
    """The exceptions detected in ``[since, until)`` and resolved since (by the rules or by
    a person), oldest first: the day's history as the board held it before a restart.
    Neither the sync's conflicts nor rows closed as duplicates of another."""
    rows = _day_rows(session, since, until, resolved=True)
    out: list[StoredException] = []
    for row in rows:
        exc = _live(row, kinds)
        if exc is None or (row.resolved_by or "").startswith(DUPLICATE):
            continue
        out.append(StoredException(exc, row.acknowledged_at, row.acknowledged_by,
                                   row.resolved_by))  # fmt: skip
    return out


def exception_snapshot(exc: LiveException) -> dict[str, Any]:
    """What a command carries of the exception, so a database that never saw it (the shared
    one: each desk's rules store their own) can record it."""
    return {
        "type": str(exc.type),
        "severity": str(exc.severity),
        "vehicle_id": exc.vehicle_id,
        "order_id": exc.order_id,
        "detected_at": exc.detected_at.isoformat(),
        "detail": exc.detail,
        "suggested_action": exc.suggested_action,
    }


def set_exception_state(
    session: Session,
    exception_id: str,
    action: str,
    *,
    at: datetime,
    by: str,
    snapshot: Mapping[str, Any] | None = None,
) -> bool:
    """A person acknowledges or resolves an exception: stored on its row (added from
    ``snapshot`` when this database does not have it) and in the change log. Resolving
    acknowledges too, if nobody had. False when there was nothing to change (already
    acknowledged / resolved): a repeat changes nothing."""
    if action not in ACTIONS:
        raise ValueError(f"exception {exception_id}: unknown action {action!r}")
    row = session.get(ExceptionRow, exception_id)
    if row is None:
        if snapshot is None:
            raise KeyError(f"no exception {exception_id!r}")
        row = ExceptionRow(
            id=exception_id,
            type=str(snapshot["type"]),
            severity=str(snapshot["severity"]),
            vehicle_id=snapshot.get("vehicle_id"),
            order_id=snapshot.get("order_id"),
            detected_at=datetime.fromisoformat(str(snapshot["detected_at"])),
            detail=str(snapshot.get("detail", "")),
            suggested_action=str(snapshot.get("suggested_action", "")),
        )
        session.add(row)
    before = {
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by or "",
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolved_by": row.resolved_by or "",
    }
    changed = False
    if row.acknowledged_at is None:
        row.acknowledged_at, row.acknowledged_by = at, by
        changed = True
    if action == RESOLVE and row.resolved_at is None:
        row.resolved_at, row.resolved_by = at, by
        changed = True
    if not changed:
        return False
    after = {
        "action": action,
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "resolved_by": row.resolved_by,
    }
    log_change(session, ENTITY, exception_id, "update", actor=by, before=before, after=after)
    return True


def handled_states(
    session: Session, exception_ids: Sequence[str]
) -> list[tuple[tuple[str, str, str], datetime | None, str, datetime | None, str]]:
    """For exceptions a person handled: (condition key, acknowledged at, by, resolved at,
    by) as stored; a resolution by the rules (its condition cleared) is left out."""
    rows = session.scalars(
        select(ExceptionRow).where(ExceptionRow.id.in_(sorted(set(exception_ids))))
    )
    out = []
    for r in rows:
        by_person = r.resolved_at is not None and r.resolved_by not in ("", "rule", None)
        out.append((
            (r.type, r.vehicle_id or "", r.order_id or ""),
            r.acknowledged_at, r.acknowledged_by or "",
            r.resolved_at if by_person else None, (r.resolved_by or "") if by_person else "",
        ))  # fmt: skip
    return out
