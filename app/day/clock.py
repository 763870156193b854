"""The clock of the day, one for the whole workstation: the wall clock, or the demo's."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class DayClock:
    """Epoch seconds when called (what telemetry, rules and previews read), ``now()`` as a
    datetime. The wall clock, until ``simulate`` runs it from ``start`` at ``speedup``
    times real time (the demo day)."""

    def __init__(self, start: float | None = None, speedup: float = 1.0) -> None:
        self.start: float | None = None
        self.speedup = 1.0
        self.wall_start = time.time()  # the wall clock (epoch s) when ``start`` was read
        self._t0 = time.monotonic()
        if start is not None:
            self.simulate(start, speedup)

    def simulate(self, start: float, speedup: float) -> None:
        """From now on, epoch ``start`` plus real time elapsed times ``speedup``."""
        self.start, self.speedup, self._t0 = start, speedup, time.monotonic()
        self.wall_start = time.time()

    @property
    def simulated(self) -> bool:
        return self.start is not None

    def __call__(self) -> float:
        if self.start is None:
            return time.time()
        return self.start + (time.monotonic() - self._t0) * self.speedup

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)
