"""Order status (cancelled orders stay stored) and dispatchers' proposals, with their log.

A cancelled order is left out of :func:`app.store.repository.load_day` (it is no longer
planned) but stays in the store with who cancelled it, when and why; it can be opened again
(an undo). A proposal is stored pending and decided once: its version makes a second,
concurrent decision fail with ``StaleVersionError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import convert
from app.store.changelog import log_change, session_now
from app.store.errors import StaleVersionError
from app.store.models import OrderRow, ProposalRow
from engine.model import Order

OPEN, CANCELLED = "open", "cancelled"
ORDER_STATUSES = (OPEN, CANCELLED)
PENDING, ACCEPTED, REJECTED, WITHDRAWN = "pending", "accepted", "rejected", "withdrawn"
PROPOSAL_STATUSES = (PENDING, ACCEPTED, REJECTED, WITHDRAWN)


@dataclass(frozen=True)
class CancelledOrder:
    """An order taken out of its day: the order as it was, who, when and why."""

    order: Order
    reason: str
    by: str
    at: datetime | None


def order_row(session: Session, order_id: str) -> OrderRow:
    row = session.get(OrderRow, order_id)
    if row is None:
        raise KeyError(f"no order {order_id!r} in the store")
    return row


def order_status(session: Session, order_id: str) -> str:
    return order_row(session, order_id).status


def set_order_status(
    session: Session, order_id: str, status: str, *, actor: str, reason: str = ""
) -> None:
    """Cancel an order (``cancelled``) or open it again (``open``), logged with the reason."""
    if status not in ORDER_STATUSES:
        raise ValueError(f"order status: one of {ORDER_STATUSES}, got {status!r}")
    row = order_row(session, order_id)
    before = {"status": row.status, "reason": row.status_reason}
    if row.status == status:
        return
    now = session_now(session)
    row.status, row.status_reason, row.status_by, row.status_at = status, reason, actor, now
    row.updated_at, row.updated_by = now, actor
    log_change(session, "order", order_id, "update", actor=actor, before=before,
               after={"status": status, "reason": reason})  # fmt: skip
    session.flush()


def cancelled_orders(session: Session, depot_id: str, start: datetime, end: datetime) -> list:
    """The depot's cancelled orders whose first window starts in [start, end)."""
    rows = session.scalars(
        select(OrderRow)
        .where(OrderRow.depot_id == depot_id, OrderRow.status == CANCELLED)
        .where(OrderRow.first_window_start >= start, OrderRow.first_window_start < end)
        .order_by(OrderRow.id)
    )
    return [
        CancelledOrder(convert.order_from_row(r), r.status_reason, r.status_by, r.status_at)
        for r in rows
    ]


# -- proposals -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredProposal:
    """A proposal as stored: what, by whom, its effect, and what became of it."""

    id: str
    depot_id: str
    day: date
    kind: str  # "move" or "replan"
    label: str
    author: str
    author_role: str
    created_at: datetime
    effect: dict[str, Any]
    payload: dict[str, Any]
    base_versions: dict[str, int]
    status: str = PENDING
    decided_by: str = ""
    decided_at: datetime | None = None
    note: str = ""
    version: int = 1

    @property
    def pending(self) -> bool:
        return self.status == PENDING


def _proposal(row: ProposalRow) -> StoredProposal:
    return StoredProposal(
        id=row.id, depot_id=row.depot_id, day=row.day, kind=row.kind, label=row.label,
        author=row.author, author_role=row.author_role, created_at=row.created_at,
        effect=dict(row.effect), payload=dict(row.payload),
        base_versions={k: int(v) for k, v in row.base_versions.items()}, status=row.status,
        decided_by=row.decided_by, decided_at=row.decided_at, note=row.note, version=row.version,
    )  # fmt: skip


def add_proposal(session: Session, proposal: StoredProposal) -> StoredProposal:
    """Store a new pending proposal (logged as inserted by its author)."""
    row = ProposalRow(
        id=proposal.id, depot_id=proposal.depot_id, day=proposal.day, kind=proposal.kind,
        label=proposal.label, author=proposal.author, author_role=proposal.author_role,
        created_at=proposal.created_at, effect=proposal.effect, payload=proposal.payload,
        base_versions=dict(proposal.base_versions), status=PENDING, decided_by="",
        decided_at=None, note="",
    )  # fmt: skip
    session.add(row)
    session.flush()
    log_change(session, "proposal", proposal.id, "insert", actor=proposal.author,
               after={"kind": proposal.kind, "label": proposal.label, "status": PENDING,
                      "effect": proposal.effect})  # fmt: skip
    return _proposal(row)


def list_proposals(
    session: Session, depot_id: str, day: date, statuses: Sequence[str] | None = None
) -> list[StoredProposal]:
    """The day's proposals, newest first (only ``statuses`` when given)."""
    query = select(ProposalRow).where(ProposalRow.depot_id == depot_id, ProposalRow.day == day)
    if statuses:
        query = query.where(ProposalRow.status.in_(list(statuses)))
    rows = session.scalars(query.order_by(ProposalRow.created_at.desc(), ProposalRow.id))
    return [_proposal(r) for r in rows]


def get_proposal(session: Session, proposal_id: str) -> StoredProposal:
    row = session.get(ProposalRow, proposal_id)
    if row is None:
        raise KeyError(f"no proposal {proposal_id!r}")
    return _proposal(row)


def decide_proposal(
    session: Session,
    proposal_id: str,
    status: str,
    *,
    actor: str,
    note: str = "",
    seen_version: int | None = None,
) -> StoredProposal:
    """Accept, reject or withdraw a pending proposal, once. A proposal decided meanwhile
    (or changed since ``seen_version``) raises ``StaleVersionError``."""
    if status not in (ACCEPTED, REJECTED, WITHDRAWN):
        raise ValueError(f"a decision is accepted, rejected or withdrawn, not {status!r}")
    row = session.get(ProposalRow, proposal_id, with_for_update=True)
    if row is None:
        raise KeyError(f"no proposal {proposal_id!r}")
    if row.status != PENDING or (seen_version is not None and row.version != seen_version):
        raise StaleVersionError("proposal", proposal_id, seen_version, row.version)
    before = {"status": row.status}
    row.status, row.decided_by, row.decided_at, row.note = status, actor, session_now(session), note
    session.flush()
    log_change(session, "proposal", proposal_id, "update", actor=actor, before=before,
               after={"status": status, "note": note})  # fmt: skip
    return _proposal(row)
