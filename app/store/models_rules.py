"""Tables of the standing rules: the rules (standard and per depot), every saved version,
the pause switch, and every firing with what it did.

A rule row is keyed ``<depot or *>:<rule id>``: ``*`` rows are the standard rules, a depot's
row with the same rule id overrides the standard one there. Each save raises the row's
``version`` and appends the whole rule to ``rule_version`` (history, never changed). A
firing is append-only apart from being undone (``undone_at``/``undone_by``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base, Versioned
from app.store.models_day import ID
from app.store.models_live import BigId

STANDARD = "*"  # the depot key of the standard (global) rules and switch


class RuleRow(Versioned, Base):
    """One rule as it stands now (its ``body`` is the rule's JSON without the version)."""

    __tablename__ = "rule"
    __table_args__ = (UniqueConstraint("depot_key", "rule_id"),)

    key: Mapped[str] = mapped_column(String(140), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), nullable=False)
    depot_key: Mapped[str] = mapped_column(String(64), nullable=False)  # "*" or a depot id
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    mode: Mapped[str] = mapped_column(String(20), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)


class RuleVersionRow(Base):
    """Every saved version of every rule, whole."""

    __tablename__ = "rule_version"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(140), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    saved_at: Mapped[datetime] = mapped_column(nullable=False)
    saved_by: Mapped[str] = mapped_column(String(200), nullable=False)


class RuleSwitchRow(Versioned, Base):
    """The switch that pauses every rule (``*``: everywhere; a depot id: that depot)."""

    __tablename__ = "rule_switch"

    depot_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)


class RuleFiringRow(Base):
    """A rule fired: on what, in which mode, what it did (or would do), and the command
    that carried the change out (None in shadow mode or when nothing changed)."""

    __tablename__ = "rule_firing"
    __table_args__ = (Index("ix_rule_firing_day", "depot_id", "day", "at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    depot_id: Mapped[str] = mapped_column(ID, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    rule_key: Mapped[str] = mapped_column(String(140), nullable=False)
    rule_id: Mapped[str] = mapped_column(String(64), nullable=False)
    rule_version: Mapped[int] = mapped_column(Integer, nullable=False)
    mode: Mapped[str] = mapped_column(String(20), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    vehicle_id: Mapped[str | None] = mapped_column(ID)
    order_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    effect: Mapped[dict[str, Any]] = mapped_column(nullable=False)  # moved, routes, sent...
    lateness_before_s: Mapped[float | None] = mapped_column(Float)
    lateness_after_s: Mapped[float | None] = mapped_column(Float)
    command_id: Mapped[str | None] = mapped_column(String(200))
    undone_at: Mapped[datetime | None] = mapped_column()
    undone_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
