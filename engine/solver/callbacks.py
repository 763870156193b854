"""Progress callbacks: a no-op base class to subclass (PyVRP style)."""

from __future__ import annotations


class SolveCallbacks:
    """Override what you need; every method is called from the solving thread."""

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        """A better solution was found: its cost (problem cost units) and seconds so far."""

    def on_phase(self, name: str) -> None:
        """The solver entered a phase (``"pyvrp"``, ``"ortools"``, ``"repair"``)."""

    def on_matrices(self, seconds: float) -> None:
        """The day's travel matrices are built: they took this long (apart from the limit)."""
