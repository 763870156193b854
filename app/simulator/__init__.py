"""The fleet simulator (``python -m app.simulator``) and its library API."""

from app.simulator.core import Incidents, Simulator
from app.simulator.plan import sweep_plan, synthetic_day

__all__ = ["Incidents", "Simulator", "sweep_plan", "synthetic_day"]
