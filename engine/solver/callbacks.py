"""Progress callbacks: a no-op base class to subclass (PyVRP style), and the quality of a
solution as a dispatcher reads it (stops served, minutes late, kilometres)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.evaluate import evaluate
from engine.problem import Problem, total_distance

QUALITY_EVERY_S = 2.0  # the best solution's quality (served, late, km), at most this often


@dataclass(frozen=True, slots=True)
class Quality:
    """The best solution so far: how many of the clients it serves, their lateness summed
    (seconds after each window closes) and the distance driven (metres)."""

    served: int
    clients: int
    lateness_s: float
    distance_m: float


def quality(problem: Problem, routes: Sequence[Sequence[int]]) -> Quality:
    """The quality of ``routes`` (client nodes per vehicle) on ``problem``."""
    clients = set(problem.clients)
    late = sum(evaluate(problem, k, r).total_lateness for k, r in enumerate(routes) if r)
    served = sum(1 for r in routes for n in r if n in clients)
    return Quality(served, len(clients), float(late), total_distance(problem, routes))


class SolveCallbacks:
    """Override what you need; every method is called from the solving thread."""

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        """A better solution was found: its cost (problem cost units) and seconds so far."""

    def on_quality(self, best: Quality, elapsed_s: float) -> None:
        """The best solution so far, served / late / driven: at the first feasible plan and,
        while PyVRP or OR-Tools searches, at most every ``QUALITY_EVERY_S`` as it improves."""

    def on_phase(self, name: str) -> None:
        """The solver entered a phase (``"pyvrp"``, ``"ortools"``, ``"repair"``)."""

    def on_matrices(self, seconds: float) -> None:
        """The day's travel matrices are built: they took this long (apart from the limit)."""
