"""The day's trouble, drawn from the seed: who is delayed, breaks down, goes silent, strays,
and which orders arrive late.

``TroubleSpec`` says how many of each (``--trouble breakdown=2,late_orders=6``); ``draw``
picks the vehicles and the moments from the seed, so one seed and one spec are one day.

- **delay**: the vehicle leaves the depot late (a loading problem) and drives slower all
  day (a new driver, a heavy van);
- **breakdown**: the vehicle stops where it is, for good, and reports ``breakdown``;
- **silent**: the tracker sends no position for a while (the driver keeps working and
  the stop events still come);
- **detour**: the vehicle strays kilometres off its route on one leg;
- **late orders**: orders that become known during the day, with windows later that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from app.simulator.world import keyed_rng
from engine.model import DayInput, Location, Order, Route, TimeWindow

KINDS = ("delay", "breakdown", "silent", "detour", "late_orders")


@dataclass(frozen=True)
class TroubleSpec:
    """How much trouble a day has (counts per kind)."""

    delay: int = 1
    breakdown: int = 1
    silent: int = 1
    detour: int = 1
    late_orders: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"trouble {f.name}: must be a whole number ≥ 0, got {value!r}")
            if f.name != "late_orders" and value > 20:
                raise ValueError(f"trouble {f.name}: at most 20 vehicles, got {value}")
            if f.name == "late_orders" and value > 200:
                raise ValueError(f"trouble late_orders: at most 200, got {value}")

    @classmethod
    def none(cls) -> TroubleSpec:
        return cls(0, 0, 0, 0, 0)

    @classmethod
    def parse(cls, text: str) -> TroubleSpec:
        """``"breakdown=2,delay=0"`` (kinds not named keep their default); ``"none"``."""
        text = text.strip()
        if text in ("", "default"):
            return cls()
        if text == "none":
            return cls.none()
        values: dict[str, int] = {}
        for part in text.split(","):
            name, sep, count = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in KINDS:
                raise ValueError(
                    f"trouble {part.strip()!r}: expected KIND=N with KIND one of {', '.join(KINDS)}"
                )
            try:
                values[name] = int(count)
            except ValueError:
                raise ValueError(f"trouble {name}: {count.strip()!r} is not a number") from None
        return cls(**values)

    def text(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass(frozen=True)
class Incident:
    """One piece of trouble: what, to which vehicle, from when (epoch s), and its size."""

    kind: str
    vehicle_id: str | None
    at: float
    until: float | None = None
    factor: float = 1.0  # delay: how much slower it drives
    late_by_s: float = 0.0  # delay: how late it leaves the depot
    metres: float = 0.0  # detour: how far off its route
    order_id: str | None = None  # late order

    def to_json(self) -> dict:
        out = {"kind": self.kind, "vehicle_id": self.vehicle_id, "at": self.at}
        for name in ("until", "order_id"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("factor", "late_by_s", "metres"):
            value = getattr(self, name)
            if value != (1.0 if name == "factor" else 0.0):
                out[name] = value
        return out


@dataclass(frozen=True)
class LateOrder:
    """An order that becomes known at ``known_at`` (epoch s) during the day."""

    known_at: float
    order: Order


def _span(route: Route) -> tuple[float, float]:
    start = route.start or route.stops[0].planned_arrival
    end = route.end or route.stops[-1].planned_departure or start
    assert start is not None and end is not None
    return start.timestamp(), max(end.timestamp(), start.timestamp() + 3600)


def draw(
    seed: int,
    spec: TroubleSpec,
    routes: Sequence[Route],
    day: DayInput,
    depot_id: str,
    street_points=None,
) -> tuple[list[Incident], list[LateOrder]]:
    """The day's incidents and late orders (``street_points(rng, n)`` places late orders
    on streets; without it they fall around the depot)."""
    rng = keyed_rng(seed, "trouble", spec.text())
    usable = [r for r in routes if len(r.stops) >= 3]
    order = [usable[int(i)] for i in rng.permutation(len(usable))]
    incidents: list[Incident] = []
    picks = iter(order)
    for kind in ("delay", "breakdown", "silent", "detour"):
        for _ in range(getattr(spec, kind)):
            route = next(picks, None)
            if route is None:
                break
            t0, t1 = _span(route)
            u = float(rng.random())
            if kind == "delay":
                incidents.append(
                    Incident(kind, route.vehicle_id, t0, factor=round(1.5 + 0.4 * u, 2),
                             late_by_s=round(1800 + 1800 * float(rng.random())))
                )  # fmt: skip
            elif kind == "breakdown":
                incidents.append(
                    Incident(kind, route.vehicle_id, t0 + (0.25 + 0.3 * u) * (t1 - t0))
                )
            elif kind == "silent":
                begin = t0 + (0.2 + 0.3 * u) * (t1 - t0)
                length = 2400 + 3600 * float(rng.random())
                incidents.append(Incident(kind, route.vehicle_id, begin, until=begin + length))
            else:
                incidents.append(
                    Incident(kind, route.vehicle_id, t0 + (0.15 + 0.3 * u) * (t1 - t0),
                             metres=round(2500 + 1500 * float(rng.random())))
                )  # fmt: skip
    late = _late_orders(rng, spec.late_orders, day, depot_id, street_points)
    incidents += [Incident("late_orders", None, lo.known_at, order_id=lo.order.id) for lo in late]
    return incidents, late


def _late_orders(rng, count, day: DayInput, depot_id: str, street_points) -> list[LateOrder]:
    if count <= 0:
        return []
    depot = day.depot(depot_id)
    tz = ZoneInfo(depot.timezone)
    morning = datetime.combine(day.day, time(8, 0), tz)
    if street_points is not None:
        pts = street_points(rng, count)
        places = [Location(round(float(a), 6), round(float(b), 6)) for a, b in zip(pts.lat, pts.lon, strict=True)]  # fmt: skip
    else:
        r = 6.0 * np.sqrt(rng.random(count)) / 111.0
        a = 2 * np.pi * rng.random(count)
        k = np.cos(np.radians(depot.location.lat))
        places = [
            Location(depot.location.lat + float(r[i] * np.sin(a[i])),
                     depot.location.lon + float(r[i] * np.cos(a[i]) / k))
            for i in range(count)
        ]  # fmt: skip
    dims = list(day.dimensions) or ["kg"]
    out = []
    for k, place in enumerate(places):
        known = morning + timedelta(minutes=int(rng.integers(0, 5 * 60)))
        start = (known + timedelta(hours=1 + int(rng.integers(0, 2)))).replace(minute=0, second=0)
        window = TimeWindow(start, min(start + timedelta(hours=3), start.replace(hour=19)))
        order = Order(
            id=f"O{day.day:%Y%m%d}-L{k + 1:02d}",
            depot_id=depot_id,
            location=place,
            demand={dims[0]: float(round(5 + 25 * float(rng.random()), 1))},
            windows=(window,),
            service_time=timedelta(minutes=4),
            priority=1,
            customer=f"Walk-in customer {int(rng.integers(1, 60)):02d}",
            wave="W2",
        )
        out.append(LateOrder(known.timestamp(), order))
    out.sort(key=lambda lo: lo.known_at)
    return out
