"""How dispatcher commands reach the store: one command through the applier
(``app.store.route_write``: version checks, one transaction, one audit row)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from app.store import Store
from app.store import commands as applier
from app.store.commands import CommandRefused, StaleRouteError
from app.store.route_write import (
    AUDIT_ENTITY,
    ROUTE_WRITE,
    AuditEntry,
    CommandRecord,
    OrderEdits,
    RouteWrite,
    WriteHook,
    Written,
    read_audit,
)
from engine.model import Plan, Route, Unassigned

log = logging.getLogger(__name__)

__all__ = [
    "AUDIT_ENTITY",
    "ROUTE_WRITE",
    "AuditEntry",
    "CommandRecord",
    "CommandRefused",
    "OrderEdits",
    "RouteWrite",
    "StaleRouteError",
    "WriteHook",
    "Written",
    "read_audit",
]


class VersionBook:
    """Route versions of the plans this service handed out, keyed by plan identity."""

    def __init__(self, size: int = 16) -> None:
        self._items: list[tuple[Plan, dict[str, int]]] = []
        self._size = size

    def remember(self, plan: Plan, versions: Mapping[str, int]) -> None:
        self._items = [(p, v) for p, v in self._items if p is not plan][-(self._size - 1) :]
        self._items.append((plan, dict(versions)))

    def get(self, plan: Plan) -> dict[str, int] | None:
        return next((v for p, v in reversed(self._items) if p is plan), None)


def write_routes(
    store: Store,
    plan: Plan,
    routes: Sequence[Route],
    *,
    actor: str,
    audit: dict[str, Any],
    base_versions: Mapping[str, int] | None,
    check_ids: Sequence[str] = (),
    check_all: bool = False,
    drop: Sequence[str] = (),
    unassigned: Sequence[Unassigned] | None = None,
    whole: bool = False,
    expect: Sequence[Route] | None = None,
    on_write: WriteHook | None = None,
    orders: OrderEdits | None = None,
    local_copy: bool = False,
) -> Written:
    """Replace ``routes`` (by id) in the stored plan of ``plan``'s day, in one transaction,
    through the command applier (``app.store.commands``: one version check, the day's
    invariants).

    ``base_versions``: the versions ``plan`` was shown at (None: compare content instead);
    the replaced routes, ``drop`` and ``check_ids`` (``check_all``: every route of the day)
    must still be as shown (``expect``: or exactly as a command left them). ``whole`` saves
    the day's plan (new or dropped routes, route times, unassigned orders); else only stops
    are updated, route by route, unless the unassigned orders change (an unassigned order
    put on a route), which saves the plan. ``on_write(session, record)`` runs in the same
    transaction (e.g. to fill an outbox); if it raises, nothing is written. ``orders``:
    order rows written first (an urgent order added, an order changed or cancelled), in the
    same transaction. ``local_copy``: ``store`` is a desk's copy of a shared database,
    which checks what the copy cannot (another depot's plan version seen).
    """
    command = RouteWrite(
        plan=plan, routes=tuple(routes), actor=actor, audit=audit,
        base_versions=base_versions, check_ids=tuple(check_ids), check_all=check_all,
        drop=tuple(drop), unassigned=None if unassigned is None else tuple(unassigned),
        whole=whole, expect=None if expect is None else tuple(expect), on_write=on_write,
        orders=orders or OrderEdits(), local_copy=local_copy,
    )  # fmt: skip
    with store.session() as s:
        written: Written = applier.apply(s, command).result
    log.info("%s by %s: %s", audit.get("command"), actor, audit.get("label", ""))
    return written
