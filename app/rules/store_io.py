"""The rules in force at this desk, read from its database (standard + this depot's)."""

from __future__ import annotations

from engine.automation import Rule


def stored_rules() -> list[Rule] | None:
    """The effective rules of the desk's depot, or None when none are stored yet."""
    return None
