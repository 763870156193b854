"""The standing rules in the store: save (versioned), read what applies at a depot, the
pause switch, and the firings of a day.

Every save is checked (``Rule.from_json``: an invalid rule is refused with the reason and
nothing is written), version-checked against what the editor read (a rule someone else
saved meanwhile raises ``StaleVersionError``), appended to the rule's history and to the
change log, in one transaction. Rule ids are per depot key: ``*`` for the standard rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store.changelog import log_change
from app.store.errors import StaleVersionError
from app.store.models import RuleFiringRow, RuleRow, RuleSwitchRow, RuleVersionRow
from app.store.models_rules import STANDARD
from engine.automation import Rule, effective_rules

RULE_ENTITY = "rule"
SWITCH_ENTITY = "rule_switch"
FIRING_ENTITY = "rule_firing"


def rule_key(rule_id: str, depot_id: str | None) -> str:
    return f"{depot_id or STANDARD}:{rule_id}"


def _rule_of(row: RuleRow) -> Rule:
    return Rule.from_json({**row.body, "version": row.version})


def all_rules(session: Session) -> list[Rule]:
    """Every stored rule, standard and per depot."""
    return [_rule_of(r) for r in session.scalars(select(RuleRow).order_by(RuleRow.key))]


def rules_for(session: Session, depot_id: str) -> list[Rule]:
    """The rules that apply at a depot (its own override the standard ones, by id)."""
    return effective_rules(all_rules(session), depot_id)


def has_rules(session: Session) -> bool:
    return session.scalar(select(RuleRow.key).limit(1)) is not None


def save_rule(
    session: Session, rule: Rule | dict[str, Any], *, actor: str, base_version: int | None
) -> Rule:
    """Store a rule (new: ``base_version`` None; an edit: the version the editor read).

    Raises ``RuleError`` (field, reason) for an invalid rule, ``StaleVersionError`` when
    the stored rule is not at ``base_version`` (or exists when it should be new)."""
    data = rule.to_json() if isinstance(rule, Rule) else dict(rule)
    data.pop("version", None)
    checked = Rule.from_json(data)  # refuses an invalid rule, with the reason
    body = checked.to_json()
    body.pop("version")
    key = rule_key(checked.id, checked.depot_id)
    row = session.get(RuleRow, key)
    now = datetime.now(UTC)
    stored = None if row is None else row.version
    if stored != base_version:
        raise StaleVersionError("rule", key, base_version, stored)
    before = None
    if row is None:
        row = RuleRow(key=key, rule_id=checked.id, depot_key=checked.depot_id or STANDARD)
        session.add(row)
    else:
        before = {**row.body, "version": row.version}
        if row.body == body:
            return _rule_of(row)  # nothing changed: no new version
    row.name, row.enabled, row.mode, row.body = (
        checked.name,
        checked.enabled,
        checked.mode.value,
        body,
    )
    row.updated_at, row.updated_by = now, actor
    session.flush()  # the version rises here (or is set to 1)
    session.add(
        RuleVersionRow(key=key, version=row.version, body=body, saved_at=now, saved_by=actor)
    )
    after = {**body, "version": row.version}
    log_change(session, RULE_ENTITY, key, "insert" if before is None else "update", actor=actor,
               before=before, after=after)  # fmt: skip
    return _rule_of(row)


def rule_history(
    session: Session, rule_id: str, depot_id: str | None
) -> list[tuple[int, datetime, str, Rule]]:
    """(version, saved at, by whom, the rule) of every saved version, oldest first."""
    key = rule_key(rule_id, depot_id)
    rows = session.scalars(select(RuleVersionRow).where(RuleVersionRow.key == key)
                           .order_by(RuleVersionRow.version))  # fmt: skip
    return [(r.version, r.saved_at, r.saved_by, Rule.from_json({**r.body, "version": r.version}))
            for r in rows]  # fmt: skip


def seed_rules(session: Session, rules: Iterable[Rule], *, actor: str) -> int:
    """Store the shipped rules as the standard set when no rule is stored yet."""
    if has_rules(session):
        return 0
    count = 0
    for rule in rules:
        save_rule(session, rule.edited(depot_id=None), actor=actor, base_version=None)
        count += 1
    return count


# -- the pause switch -----------------------------------------------------------------------
@dataclass(frozen=True)
class Switch:
    paused: bool
    version: int | None
    reason: str = ""
    by: str = ""
    at: datetime | None = None


def switch(session: Session, depot_id: str | None = None) -> Switch:
    """The pause switch of a depot (or the standard one): paused if either is."""
    keys = [STANDARD] + ([depot_id] if depot_id else [])
    rows = {r.depot_key: r for r in session.scalars(select(RuleSwitchRow)
                                                   .where(RuleSwitchRow.depot_key.in_(keys)))}  # fmt: skip
    own = rows.get(depot_id or STANDARD)
    paused = [r for r in rows.values() if r.paused]
    shown = paused[0] if paused else own
    return Switch(bool(paused), own.version if own else None, shown.reason if shown else "",
                  shown.updated_by if shown else "", shown.updated_at if shown else None)  # fmt: skip


def set_paused(
    session: Session, paused: bool, *, actor: str, depot_id: str | None = None, reason: str = "",
    base_version: int | None = None, check: bool = False,
) -> Switch:  # fmt: skip
    """Pause (or resume) every rule at a depot (None: everywhere); in the change log."""
    key = depot_id or STANDARD
    row = session.get(RuleSwitchRow, key)
    if check and (row.version if row else None) != base_version:
        raise StaleVersionError("rule_switch", key, base_version, row.version if row else None)
    before = None if row is None else {"paused": row.paused, "reason": row.reason}
    if row is None:
        row = RuleSwitchRow(depot_key=key)
        session.add(row)
    row.paused, row.reason = paused, reason
    row.updated_at, row.updated_by = datetime.now(UTC), actor
    session.flush()
    log_change(session, SWITCH_ENTITY, key, "insert" if before is None else "update", actor=actor,
               before=before, after={"paused": paused, "reason": reason})  # fmt: skip
    return switch(session, depot_id)


# -- firings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FiringRecord:
    """One firing as stored (and shown in the Rules pane)."""

    id: str
    depot_id: str
    day: date
    at: datetime
    rule_id: str
    rule_version: int
    rule_key: str
    mode: str
    action: str
    subject: str
    vehicle_id: str | None
    order_id: str | None
    status: str
    text: str
    effect: dict[str, Any]
    lateness_before_s: float | None = None
    lateness_after_s: float | None = None
    command_id: str | None = None
    undone_at: datetime | None = None
    undone_by: str = ""


_FIELDS = tuple(FiringRecord.__dataclass_fields__)


def add_firing(session: Session, firing: FiringRecord, *, actor: str) -> None:
    """Store a firing (idempotent by id) with its change-log row."""
    if session.get(RuleFiringRow, firing.id) is not None:
        return
    session.add(RuleFiringRow(**{f: getattr(firing, f) for f in _FIELDS}))
    log_change(session, FIRING_ENTITY, firing.id, "insert", actor=actor,
               after={"rule": firing.rule_id, "version": firing.rule_version, "mode": firing.mode,
                      "status": firing.status, "text": firing.text,
                      "command_id": firing.command_id})  # fmt: skip


def mark_undone(session: Session, firing_id: str, *, actor: str, at: datetime) -> None:
    result = session.execute(
        update(RuleFiringRow).where(RuleFiringRow.id == firing_id, RuleFiringRow.undone_at.is_(None))
        .values(undone_at=at, undone_by=actor)
    )  # fmt: skip
    if getattr(result, "rowcount", 1):
        log_change(session, FIRING_ENTITY, firing_id, "update", actor=actor,
                   after={"undone_at": at.isoformat()})  # fmt: skip


def firings(session: Session, depot_id: str, day: date) -> list[FiringRecord]:
    """The day's firings at a depot, oldest first."""
    rows = session.scalars(select(RuleFiringRow).where(RuleFiringRow.depot_id == depot_id,
                                                       RuleFiringRow.day == day)
                           .order_by(RuleFiringRow.at, RuleFiringRow.id))  # fmt: skip
    return [FiringRecord(**{f: getattr(r, f) for f in _FIELDS}) for r in rows]


def firing_counts(records: Sequence[FiringRecord]) -> dict[str, int]:
    """rule id -> firings (shadow ones included) in ``records``."""
    out: dict[str, int] = {}
    for r in records:
        out[r.rule_id] = out.get(r.rule_id, 0) + 1
    return out
