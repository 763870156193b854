"""The twin's city: what is true on its streets and at its customers' doors.

Two kinds of randomness, kept apart on purpose:

- **the city** (:data:`CITY_SEED`): which zones are congested at which hours, which
  customers are slow to serve or often away. It is the same every day, so history can
  learn it (a customer is slow today because it is slow every day).
- **the day** (the simulator's seed): today's noise on top of the city, and the day's
  trouble. One seed is one reproducible day.

Traffic is a speed multiplier on the street network's own speeds (road class and time of
day, :mod:`engine.roads`): ``true speed = network speed x zone_speed(zone, hour)``. Zones
are square cells of :data:`ZONE_M` metres on the network's projection, named
``Z<col>-<row>``. Service is ``planned service time x customer factor x day noise``; a
customer's absence probability decides failed attempts. Every draw is keyed by what it is
about (zone and hour, customer, order), never by the order things happen in, so a
vehicle that is re-routed meets the same streets and the same customers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: The city's own seed: the same streets and customers every day.
CITY_SEED = 20261205
#: Side of a traffic zone, in metres.
ZONE_M = 3000.0
#: How a zone's traffic behaves over the day: speed multipliers by local hour.
#: Commuter corridors choke at the peaks, commercial areas at lunch, residential streets
#: barely. Hours not listed run at 1.0.
ZONE_PROFILES: dict[str, dict[int, float]] = {
    "commuter": {7: 0.72, 8: 0.68, 9: 0.85, 16: 0.74, 17: 0.66, 18: 0.82},
    "commercial": {8: 0.92, 11: 0.82, 12: 0.72, 13: 0.78, 14: 0.88, 17: 0.86},
    "residential": {7: 0.93, 8: 0.92, 17: 0.93},
}
#: Share of zones of each kind.
ZONE_KINDS = (("commuter", 0.35), ("commercial", 0.25), ("residential", 0.40))
#: Customers who are often away: their share, and their chance of a failed attempt.
OFTEN_AWAY_SHARE, OFTEN_AWAY_P, USUAL_AWAY_P = 0.12, 0.22, 0.02


def stable_int(*parts: object) -> int:
    """A 64-bit integer from the text of ``parts``: the same in every process and run."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def keyed_rng(*parts: object) -> np.random.Generator:
    """A generator keyed by what a draw is about (never by when it is drawn)."""
    return np.random.default_rng(stable_int(*parts))


@dataclass(frozen=True, slots=True)
class CustomerTraits:
    """How serving one customer goes, every day: service time factor, absence chance."""

    service_factor: float
    away_p: float


@lru_cache(maxsize=8192)
def customer_traits(customer: str) -> CustomerTraits:
    """The traits of a customer (its name, else its address: whatever names it daily)."""
    rng = keyed_rng(CITY_SEED, "customer", customer)
    factor = float(np.clip(rng.lognormal(0.0, 0.35), 0.5, 2.5))
    away = OFTEN_AWAY_P if rng.random() < OFTEN_AWAY_SHARE else USUAL_AWAY_P
    return CustomerTraits(round(factor, 3), away)


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """What happens at one stop today: service seconds and whether the attempt fails."""

    service_s: float
    failed: bool


def stop_outcome(seed: int, order_id: str, customer: str, planned_service_s: float) -> StopOutcome:
    """Today's service at one order's door (keyed by seed and order: re-routing keeps it)."""
    traits = customer_traits(customer or order_id)
    rng = keyed_rng(seed, "stop", order_id)
    failed = bool(rng.random() < traits.away_p)
    noise = float(rng.lognormal(0.0, 0.15))
    if failed:  # ring, wait, leave a card
        return StopOutcome(round(90.0 + 120.0 * float(rng.random()), 1), True)
    return StopOutcome(
        round(max(30.0, planned_service_s * traits.service_factor * noise), 1), False
    )


class Traffic:
    """Speed multipliers by zone and local hour: the city's pattern times the day's noise.

    ``origin`` is the south-west corner of the zone grid in projected metres (x, y).
    """

    def __init__(self, seed: int, origin: tuple[float, float] = (0.0, 0.0)) -> None:
        self.seed = seed
        self.origin = origin
        self._cache: dict[tuple[int, int, int], float] = {}

    def zone_of_xy(self, x: float, y: float) -> tuple[int, int]:
        return int((x - self.origin[0]) // ZONE_M), int((y - self.origin[1]) // ZONE_M)

    def zones_of_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = np.floor((np.asarray(x) - self.origin[0]) / ZONE_M).astype(np.int64)
        rows = np.floor((np.asarray(y) - self.origin[1]) / ZONE_M).astype(np.int64)
        return cols, rows

    @staticmethod
    def zone_name(col: int, row: int) -> str:
        return f"Z{col}-{row}"

    @staticmethod
    def zone_kind(col: int, row: int) -> tuple[str, float]:
        """(kind, base speed multiplier) of a zone: the city's, the same every day."""
        rng = keyed_rng(CITY_SEED, "zone", col, row)
        u, acc = float(rng.random()), 0.0
        kind = ZONE_KINDS[-1][0]
        for name, share in ZONE_KINDS:
            acc += share
            if u < acc:
                kind = name
                break
        base = float(np.clip(rng.lognormal(-0.04, 0.10), 0.75, 1.15))
        return kind, base

    def city_speed(self, col: int, row: int, hour: int) -> float:
        """The zone's usual multiplier at that hour (no day noise): what history learns."""
        kind, base = self.zone_kind(col, row)
        return base * ZONE_PROFILES[kind].get(hour, 1.0)

    def speed(self, col: int, row: int, hour: int) -> float:
        """Today's multiplier in a zone at a local hour (0-23)."""
        key = (col, row, hour)
        value = self._cache.get(key)
        if value is None:
            noise = float(keyed_rng(self.seed, "traffic", col, row, hour).lognormal(0.0, 0.07))
            value = self._cache[key] = float(
                np.clip(self.city_speed(col, row, hour) * noise, 0.35, 1.3)
            )
        return value

    def speeds(self, cols: np.ndarray, rows: np.ndarray, hour: int) -> np.ndarray:
        """:meth:`speed` for many zones at once."""
        pairs = np.stack([cols, rows], axis=1)
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        values = np.array([self.speed(int(c), int(r), hour) for c, r in unique])
        return values[inverse.ravel()]
