"""The fleet simulator (``python -m app.simulator``): the depot's digital twin, its library API, and the demo fleet's in-process driver."""

from app.simulator.core import Incidents, Simulator
from app.simulator.plan import sweep_plan, synthetic_day
from app.simulator.trouble import TroubleSpec

__all__ = ["Incidents", "Simulator", "TroubleSpec", "sweep_plan", "synthetic_day"]
