"""A sync conflict laid out for a person: both versions of each route, side by side.

``conflict_view(detail, what)`` reads the JSON a conflict record holds (``mine`` and
``theirs``: route id -> version and order ids; who stored the other version and when; the
reason) into a small typed structure the conflict dialog shows. No Qt here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RouteSides:
    """One route in both versions: my stops (None: my edit did not touch it) and the
    stored stops (None: the route is not on the shared database any more), in order."""

    route_id: str
    mine: tuple[str, ...] | None
    theirs: tuple[str, ...] | None
    mine_version: int | None = None
    theirs_version: int | None = None

    @property
    def differs(self) -> bool:
        return self.mine is not None and self.mine != self.theirs

    def mine_marks(self) -> list[str]:
        """Per stop of my version: "" (same place in both), "only yours", "moved"."""
        return _marks(self.mine, self.theirs, "only yours") if self.mine is not None else []

    def theirs_marks(self) -> list[str]:
        """Per stored stop: "" (same place in both), "only stored", "moved". Stops of a
        route my edit did not touch are never marked."""
        if self.theirs is None:
            return []
        if self.mine is None:
            return [""] * len(self.theirs)
        return _marks(self.theirs, self.mine, "only stored")


def _marks(side: tuple[str, ...] | None, other: tuple[str, ...] | None, only: str) -> list[str]:
    """A stop missing from ``other`` is ``only``; a stop in both is "moved" when it is off
    the longest sequence both versions keep in the same order (one stop moved to the front
    marks that stop, not every stop after it)."""
    side, other = side or (), other or ()
    kept = _in_order(side, other)
    others = set(other)
    return [only if oid not in others else ("" if oid in kept else "moved") for oid in side]


def _in_order(one: tuple[str, ...], two: tuple[str, ...]) -> set[str]:
    """The stops of the longest common subsequence of both (the same set whichever side
    asks: ties are broken on the sorted pair)."""
    a, b = sorted((one, two))
    in_a, in_b = set(a), set(b)
    a, b = tuple(o for o in a if o in in_b), tuple(o for o in b if o in in_a)
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = (table[i + 1][j + 1] + 1 if a[i] == b[j]
                           else max(table[i + 1][j], table[i][j + 1]))  # fmt: skip
    kept, i, j = set(), 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            kept.add(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


@dataclass(frozen=True)
class ConflictView:
    """What the conflict dialog shows: the routes, who stored the other version and when,
    what my edit was, and why it was refused."""

    routes: tuple[RouteSides, ...]
    what: str = ""  # the edit: "Move O1 to R2 (by ann)"
    kind: str = ""
    reason: str = ""
    changed_by: str = ""  # who stored the other version ("" when unknown)
    changed_at: datetime | None = None
    plans: tuple[str | None, str | None] | None = None  # (my plan id, stored plan id)
    locks: tuple[tuple[str, bool], ...] = ()

    def who_when(self) -> str:
        """ "The stored version is by bob at 14:05 UTC", or that nobody is known."""
        if not self.changed_by:
            return "Who stored the other version is not known."
        at = (
            f" at {self.changed_at:%H:%M} UTC on {self.changed_at:%d %b}" if self.changed_at else ""
        )
        return f"The stored version is by {self.changed_by}{at}."


def _kind_text(data: dict[str, Any], routes: list[RouteSides]) -> str:
    names = ", ".join(sorted(r.route_id for r in routes if r.mine is not None))
    kind = data.get("kind") or ""
    if kind == "save_plan":
        return "a new plan of the day"
    if kind == "set_locks":
        return f"locks on route {names}"
    if kind == "set_route_stops":
        return f"a change of the stops of route {names}"
    return f"{kind.replace('_', ' ') or 'an edit'} of route {names}"


def conflict_view(detail: str, what: str = "") -> ConflictView:
    """The display structure of a conflict record's ``detail`` JSON (``what``: the edit, as
    the record describes it). Detail that is not JSON becomes a view with only the reason."""
    try:
        data: dict[str, Any] = json.loads(detail) if detail else {}
    except ValueError:
        return ConflictView((), what=what, reason=detail)
    if not isinstance(data, dict):
        return ConflictView((), what=what, reason=detail)
    mine, theirs = data.get("mine") or {}, data.get("theirs") or {}
    routes = []
    for rid in sorted(set(mine) | set(theirs)):
        m, t = mine.get(rid), theirs.get(rid)
        routes.append(
            RouteSides(
                rid,
                tuple(m.get("orders") or ()) if m is not None else None,
                tuple(t.get("orders") or ()) if t is not None else None,
                m.get("version") if m is not None else None,
                t.get("version") if t is not None else None,
            )
        )
    # Differing routes first: those are what the person has to compare.
    routes.sort(key=lambda r: (not r.differs, r.route_id))
    by = data.get("changed_by") or {}
    at = None
    if by.get("at"):
        try:
            at = datetime.fromisoformat(str(by["at"]))
        except ValueError:
            at = None
    plans = data.get("plans")
    if data.get("actor"):  # the edit itself, as the person made it
        what = f"{data.get('label') or _kind_text(data, routes)} (by {data['actor']})"
    return ConflictView(
        tuple(routes),
        what=what,
        kind=str(data.get("kind") or ""),
        reason=str(data.get("reason") or ""),
        changed_by=str(by.get("actor") or ""),
        changed_at=at,
        plans=(plans.get("mine"), plans.get("theirs")) if plans else None,
        locks=tuple(sorted((str(k), bool(v)) for k, v in (data.get("locks") or {}).items())),
    )
