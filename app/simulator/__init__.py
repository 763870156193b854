"""The fleet simulator (``python -m app.simulator``): the depot's digital twin, its library API, and the demo fleet's in-process driver."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.simulator.core import Incidents, Simulator
    from app.simulator.plan import sweep_plan, synthetic_day
    from app.simulator.trouble import TroubleSpec

__all__ = ["Incidents", "Simulator", "TroubleSpec", "sweep_plan", "synthetic_day"]

# The names load when first asked for: a desk that only reads the demo depot's id
# (app.simulator.demo_day) does not load the twin and its street routing.
_FROM = {
    "Incidents": "app.simulator.core",
    "Simulator": "app.simulator.core",
    "sweep_plan": "app.simulator.plan",
    "synthetic_day": "app.simulator.plan",
    "TroubleSpec": "app.simulator.trouble",
}


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name]), name)
    raise AttributeError(f"module 'app.simulator' has no attribute {name!r}")
