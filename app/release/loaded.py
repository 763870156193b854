"""What the dock has loaded: orders whose goods are on a van that has not left yet.

One definition for everything that might move stops on the live day: the standing rules
refuse to move these (``engine.automation.protect``) and every re-plan keeps them on their
vehicle (they may still be re-sequenced). See ``docs/rules.md``: what the dock loaded stays
on that van.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from engine.model import Plan, RouteStatus

log = logging.getLogger(__name__)

#: Routes at the dock: loading, loaded and waiting, or released but not driven off yet.
AT_DOCK = (RouteStatus.LOADING, RouteStatus.READY, RouteStatus.RELEASED)


def loaded_orders(
    store: Any, plan: Plan, route_ids: Collection[str] | None = None
) -> frozenset[str]:
    """Orders of routes at the dock (of ``route_ids`` only, when given) whose loading is
    complete (every order scanned, or the dock's count says so), from the store's loading
    records. A desk without loading records (or a store that cannot answer) has nothing
    loaded."""
    waiting = {r.id: list(r.order_ids) for r in plan.routes if r.status in AT_DOCK
               and (route_ids is None or r.id in route_ids)}  # fmt: skip
    if not waiting or store is None:
        return frozenset()
    try:
        from app.store.repository_release import loading_states

        with store.read_session() as s:
            states = loading_states(s, waiting)
    except Exception:  # no loading records at this desk: nothing counts as loaded
        log.debug("loading records could not be read", exc_info=True)
        return frozenset()
    return frozenset(o for rid, ids in waiting.items()
                     if states.get(rid) and states[rid].scanned >= len(ids) for o in ids)  # fmt: skip
