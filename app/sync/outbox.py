"""The outbox: commands written locally, replayed in order to the shared database.

A local outbox row is written in the same local transaction as the command's local effect.
On the shared database the same table records every command that arrived (its idempotency
key is unique), in the same transaction as the command's effect, so a replay after a cut
connection finds the key and skips the command instead of applying it twice.

Outcomes are kept on the row: ``acked_at`` empty = pending; ``last_error`` starting with
``conflict:`` = a sync conflict (also an ``exception`` row of type ``sync_conflict``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store import StaleVersionError, Store
from app.store.models import ChangeLogRow, ExceptionRow, OutboxRow
from app.sync.commands import (
    RELEASE_CONTROL,
    SAVE_PLAN,
    SET_LOCKS,
    Command,
    apply_command,
    current_plan_id,
    current_routes,
)

log = logging.getLogger(__name__)

CONFLICT = "conflict:"
CONFLICT_TYPE = "sync_conflict"
FAILED = "failed:"  # a pending command held back: it failed for a reason other than a conflict
FAILED_TYPE = "sync_failed"
REFRESH_ENTITY = "local_copy"  # the local change log's marker of each catch-up


@dataclass(frozen=True)
class Outcome:
    """What the shared database did with one command."""

    key: str
    status: str  # "applied", "duplicate" (already there) or "conflict"
    detail: str = ""


def enqueue(session: Session, command: Command) -> OutboxRow:
    """Add ``command`` to the outbox in ``session`` (the transaction of its local effect)."""
    row = OutboxRow(
        idempotency_key=command.key,
        command=command.to_json(),
        base_versions=dict(command.base_versions),
        created_at=datetime.now(UTC),
        attempts=0,
        last_error="",
    )
    session.add(row)
    return row


def pending(session: Session) -> list[OutboxRow]:
    """Commands not yet answered by the shared database, oldest first."""
    return list(
        session.scalars(
            select(OutboxRow).where(OutboxRow.acked_at.is_(None)).order_by(OutboxRow.id)
        )
    )


def pending_count(session: Session) -> int:
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.acked_at.is_(None))
    return session.scalar(query) or 0


def conflict_id(key: str) -> str:
    return f"sync-conflict-{key}"


def failed_id(key: str) -> str:
    return f"sync-failed-{key}"


def is_held(row: OutboxRow) -> bool:
    return row.acked_at is None and row.last_error.startswith(FAILED)


def touches(row: OutboxRow) -> set[str]:
    """The routes an outbox command writes or depends on."""
    command = row.command or {}
    return {*(command.get("routes") or {}), *(command.get("drop") or ()), *row.base_versions}


def hold(session: Session, key: str, error: str, now: datetime) -> ExceptionRow | None:
    """Hold back pending command ``key``: it failed for a reason other than a conflict. It
    stays pending (later commands on other routes still go) and is shown as a sync problem
    on the exception board with retry / discard. Returns the new board row, if new."""
    row = session.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
    if row is None or row.acked_at is not None:
        return None
    row.last_error = f"{FAILED} {error}"[:2000]
    row.attempts += 1
    if session.get(ExceptionRow, failed_id(key)) is not None:
        return None
    command = row.command or {}
    detail = {"error": error, "kind": command.get("kind", ""), "label": command.get("label", ""),
              "actor": command.get("actor", ""), "routes": sorted(touches(row))}  # fmt: skip
    exc = ExceptionRow(
        id=failed_id(key), type=FAILED_TYPE, severity="warning", detected_at=now,
        detail=json.dumps(detail, sort_keys=True),
        suggested_action="Retry sending it, or discard it (the shared database keeps its "
        "version)",
    )  # fmt: skip
    session.add(exc)
    return exc


def last_refresh_outbox_id(session: Session) -> int:
    """The newest outbox id at the last catch-up of the local copy (0: never caught up)."""
    row = session.scalar(
        select(ChangeLogRow)
        .where(ChangeLogRow.entity == REFRESH_ENTITY)
        .order_by(ChangeLogRow.id.desc())
        .limit(1)
    )
    return int((row.after or {}).get("outbox_id", 0)) if row is not None else 0


def tainted_routes(session: Session) -> set[str]:
    """Routes of commands that conflicted since the last catch-up: later local edits of
    them were based on the refused edit, so their base versions mean nothing on the shared
    database and they must conflict too (never land on someone else's version)."""
    since = last_refresh_outbox_id(session)
    rows = session.scalars(
        select(OutboxRow).where(OutboxRow.id > since, OutboxRow.last_error.startswith(CONFLICT))
    )
    out: set[str] = set()
    for row in rows:
        out.update(row.command.get("routes", {}), row.command.get("drop", ()), row.base_versions)
    return out


def last_change(session: Session, route_ids: list[str], plan_id: str | None) -> dict[str, str]:
    """Who made the newest stored change of these routes (or of the plan), and when."""
    ids = [("route", rid) for rid in route_ids] + ([("plan", plan_id)] if plan_id else [])
    best: ChangeLogRow | None = None
    for entity, ident in ids:
        row = session.scalar(
            select(ChangeLogRow)
            .where(ChangeLogRow.entity == entity, ChangeLogRow.entity_id == ident)
            .order_by(ChangeLogRow.id.desc())
            .limit(1)
        )
        if row is not None and (best is None or row.id > best.id):
            best = row
    if best is None:
        return {}
    at = best.at if best.at.tzinfo is not None else best.at.replace(tzinfo=UTC)
    return {"actor": best.actor, "origin": best.origin, "at": at.isoformat()}


def _conflict_detail(
    command: Command, theirs: dict[str, dict[str, Any]], reason: str, their_plan: str | None,
    by: dict[str, str] | None = None,
) -> str:  # fmt: skip
    mine = {
        rid: {"version": command.base_versions.get(rid), "orders": list(ids)}
        for rid, ids in command.routes.items()
    }
    shown = set(command.routes)
    if not command.routes and command.kind == RELEASE_CONTROL:  # a release names no stops
        shown |= set(command.base_versions)
    if command.plan is not None and (command.plan.replace or command.plan.check_all):
        shown |= set(theirs)  # a whole plan against a whole plan
    detail: dict[str, Any] = {
        "reason": reason,
        "kind": command.kind,
        "label": command.label,
        "actor": command.actor,
        "mine": mine,
        "theirs": {rid: theirs.get(rid) for rid in sorted(shown)},
    }
    if command.locks:
        detail["locks"] = dict(command.locks)
    if by:
        detail["changed_by"] = by
    if command.plan is not None:
        detail["plans"] = {"mine": command.plan.plan_id, "theirs": their_plan,
                           "base": command.plan.base_plan}  # fmt: skip
    return json.dumps(detail, sort_keys=True)


def _what(command: Command) -> str:
    if command.kind == SAVE_PLAN:
        return "Compare both plans of the day and keep one"
    routes = ", ".join(sorted(command.routes))
    if command.kind == SET_LOCKS:
        return f"Compare the locks on route {routes} and keep one version"
    return f"Compare both versions of route {routes} and keep one"


def conflict_exception(command: Command, detail: str, now: datetime) -> ExceptionRow:
    return ExceptionRow(
        id=conflict_id(command.key),
        type=CONFLICT_TYPE,
        severity="warning",
        detected_at=now,
        detail=detail,
        suggested_action=f"{_what(command)} "
        f"(edit by {command.actor}{': ' + command.label if command.label else ''})",
    )


def send(shared: Store, command: Command, *, tainted: bool) -> Outcome:
    """Apply one command on the shared database, recording its key in the same transaction."""
    now = datetime.now(UTC)
    key = command.key
    reason = ""
    try:
        with shared.session() as s:
            seen = s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
            if seen is not None:
                status = "conflict" if seen.last_error.startswith(CONFLICT) else "duplicate"
                return Outcome(key, status, seen.last_error)
            if tainted:
                reason = "based on an earlier edit of the same route that conflicted"
            else:
                try:
                    with s.begin_nested():
                        apply_command(s, command)
                except StaleVersionError as exc:
                    reason = str(exc)
                except (KeyError, ValueError) as exc:  # e.g. an order gone meanwhile
                    reason = f"refused by the shared database: {exc}"
                except IntegrityError as exc:  # e.g. a vehicle the shared day does not have
                    reason = f"refused by the shared database: {exc.orig}"
            record = OutboxRow(
                idempotency_key=key,
                command=command.to_json(),
                base_versions=dict(command.base_versions),
                created_at=now,
                sent_at=now,
                acked_at=now,
                attempts=1,
                last_error=f"{CONFLICT} {reason}" if reason else "",
            )
            if reason:
                theirs = current_routes(s, command.depot_id, command.day)
                their_plan = current_plan_id(s, command.depot_id, command.day)
                by = last_change(s, sorted(set(command.routes) | set(command.base_versions)),
                                 their_plan)  # fmt: skip
                detail = _conflict_detail(command, theirs, reason, their_plan, by)
                if s.get(ExceptionRow, conflict_id(key)) is None:
                    s.add(conflict_exception(command, detail, now))
            s.add(record)
    except IntegrityError:  # the same key arrived meanwhile: it is there exactly once
        log.info("outbox: command %s was already on the shared database", key)
        return Outcome(key, "duplicate", "")
    if reason:
        log.warning("sync conflict: command %s by %s: %s", key, command.actor, reason)
    return Outcome(key, "conflict" if reason else "applied", record.last_error)


def acknowledge(local: Store, outcome: Outcome, shared_exception: ExceptionRow | None) -> None:
    """Mark the local outbox row answered (and show a conflict locally too)."""
    now = datetime.now(UTC)
    with local.session() as s:
        row = s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == outcome.key))
        if row is None or row.acked_at is not None:
            return
        row.acked_at = now
        row.attempts += 1
        row.last_error = outcome.detail if outcome.status == "conflict" else ""
        if outcome.status == "conflict" and not row.last_error.startswith(CONFLICT):
            row.last_error = CONFLICT + " " + row.last_error
        if shared_exception is not None and s.get(ExceptionRow, shared_exception.id) is None:
            s.add(shared_exception)


def shared_conflict(shared: Store, key: str) -> ExceptionRow | None:
    """The shared database's conflict record of ``key`` (detached), if any."""
    with shared.read_session() as s:
        row = s.get(ExceptionRow, conflict_id(key))
        if row is None:
            return None
        return ExceptionRow(
            id=row.id, type=row.type, severity=row.severity, detected_at=row.detected_at,
            detail=row.detail, suggested_action=row.suggested_action,
        )  # fmt: skip


FaultHook = Callable[[str, str], None]
