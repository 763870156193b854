"""The index-level routing problem the solvers work on, its solution, and an independent check.

Nodes are matrix indices. Times are seconds (or Solomon time units) from a day origin,
distances are metres (or Solomon units); the engine never mixes the two inside a problem.
``engine.check`` recomputes every route from the problem alone, so a solver's result is
never trusted on its word.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

TOLERANCE = 1e-6

# Matrices already checked (read-only from then on): a problem derived from another (a
# plan changed, a lock set) keeps its arrays and is not checked again. Keyed by identity;
# the weak reference tells a live array from a new one that reuses a dead one's id.
_CHECKED: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def _checked_matrix(name: str, value: object, n: int) -> np.ndarray:
    """``value`` as a read-only float64 n x n array of finite, non-negative entries."""
    if isinstance(value, np.ndarray) and _CHECKED.get(id(value)) is value:
        if value.shape != (n, n):
            raise ValueError(f"{name} matrix: shape {value.shape}, expected ({n}, {n})")
        return value
    m = np.ascontiguousarray(value, dtype=np.float64)
    if m.shape != (n, n):
        raise ValueError(f"{name} matrix: shape {m.shape}, expected ({n}, {n})")
    # min() is NaN if any entry is, and NaN >= 0 is False; max() catches +inf.
    if m.size and not (m.min() >= 0.0 and m.max() < np.inf):
        raise ValueError(f"{name} matrix: entries must be finite and non-negative")
    m.setflags(write=False)
    if m.base is None:  # owns its data, read-only now: nothing else writes it
        _CHECKED[id(m)] = m
    return m


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One matrix row: a visit (client) or a place where vehicles start or end."""

    demand: tuple[float, ...] = ()
    windows: tuple[tuple[float, float], ...] = ()
    service: float = 0.0
    skills: frozenset[str] = frozenset()
    penalty: float | None = None  # cost of leaving it out; None: required (big penalty)
    name: str = ""

    def __post_init__(self) -> None:
        for a, b in self.windows:
            if b < a:
                raise ValueError(f"node {self.name!r}: window ({a}, {b}) ends before it starts")
        if self.service < 0:
            raise ValueError(f"node {self.name!r}: negative service time {self.service}")


@dataclass(frozen=True, slots=True)
class BreakSpec:
    """A break of ``duration`` starting within [earliest, latest]."""

    earliest: float
    latest: float
    duration: float


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """A vehicle: where it starts and ends, when, what it carries, what it can do, its costs."""

    start: int
    end: int
    capacity: tuple[float, ...]
    earliest: float = 0.0
    latest: float = float("inf")
    skills: frozenset[str] = frozenset()
    distance_cost: float = 1.0
    time_cost: float = 0.0
    fixed_cost: float = 0.0
    break_: BreakSpec | None = None
    initial_load: tuple[float, ...] = ()  # capacity already used before the start node
    name: str = ""

    def free_capacity(self, dims: int) -> tuple[float, ...]:
        load = self.initial_load or (0.0,) * dims
        return tuple(self.capacity[d] - load[d] for d in range(dims))


@dataclass(frozen=True, eq=False)
class Problem:
    """A whole routing problem on matrix indices (see the module docstring for units)."""

    distance: np.ndarray
    duration: np.ndarray
    nodes: tuple[NodeSpec, ...]
    vehicles: tuple[VehicleSpec, ...]
    clients: tuple[int, ...]
    dimensions: tuple[str, ...] = ("load",)
    locks: Mapping[int, int] = field(default_factory=dict)  # client -> vehicle
    sequences: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # vehicle -> kept order
    initial_routes: tuple[tuple[int, ...], ...] | None = None  # one per vehicle
    churn_penalty: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.nodes)
        for name in ("distance", "duration"):
            object.__setattr__(self, name, _checked_matrix(name, getattr(self, name), n))
        dims = len(self.dimensions)
        for i in self.clients:
            if not 0 <= i < n:
                raise ValueError(f"client {i}: not a node index (0..{n - 1})")
            if len(self.nodes[i].demand) not in (0, dims):
                raise ValueError(f"client {i}: demand has {len(self.nodes[i].demand)} dims")
        for k, v in enumerate(self.vehicles):
            if not (0 <= v.start < n and 0 <= v.end < n):
                raise ValueError(f"vehicle {k}: start/end node outside 0..{n - 1}")
            if len(v.capacity) != dims:
                raise ValueError(f"vehicle {k}: capacity has {len(v.capacity)} dims, not {dims}")
        for node, k in self.locks.items():
            if not 0 <= k < len(self.vehicles):
                raise ValueError(f"lock of node {node}: no vehicle {k}")
        if self.initial_routes is not None and len(self.initial_routes) != len(self.vehicles):
            raise ValueError("initial_routes: need exactly one (possibly empty) route per vehicle")

    @property
    def num_vehicles(self) -> int:
        return len(self.vehicles)

    def demand(self, node: int) -> tuple[float, ...]:
        return self.nodes[node].demand or (0.0,) * len(self.dimensions)

    def allowed(self, node: int, vehicle: int) -> bool:
        """Whether the vehicle has every skill the node needs."""
        return self.nodes[node].skills <= self.vehicles[vehicle].skills

    def in_order(self, vehicle: int, route: Sequence[int]) -> bool:
        """Whether the route keeps the vehicle's locked order (for the stops it has)."""
        seq = self.sequences.get(vehicle)
        if not seq:
            return True
        rank = {n: i for i, n in enumerate(seq)}
        ranks = [rank[n] for n in route if n in rank]
        return all(a < b for a, b in zip(ranks, ranks[1:], strict=False))

    def initial_vehicle(self) -> dict[int, int]:
        """Client -> vehicle in the initial solution (empty without one)."""
        if self.initial_routes is None:
            return {}
        return {node: k for k, route in enumerate(self.initial_routes) for node in route}


class ViolationKind(enum.StrEnum):
    UNKNOWN_NODE = "unknown_node"
    DUPLICATE = "duplicate"
    MISSING = "missing"
    WINDOW = "window"
    CAPACITY = "capacity"
    SHIFT = "shift"
    SKILL = "skill"
    LOCK = "lock"
    SEQUENCE = "sequence"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which vehicle, which node, by how much."""

    kind: ViolationKind
    vehicle: int
    node: int | None = None
    amount: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Solution:
    """Routes (client sequences, one per vehicle), left-out clients with reasons, and cost."""

    routes: tuple[tuple[int, ...], ...]
    unassigned: Mapping[int, str] = field(default_factory=dict)  # client -> reason
    cost: float = 0.0
    distance: float = 0.0
    feasible: bool = True
    solver: str = ""
    seconds: float = 0.0
    moved: int = 0  # clients served by another vehicle than in ``initial_routes``
    candidates: Mapping[str, float] = field(default_factory=dict)  # re-plan: name -> objective
    # Re-plan: its fresh search's ``seconds`` (from its first iteration) and ``iterations``,
    # to set beside a plain PyVRP solve's (same seed: more iterations, never longer routes).
    search: Mapping[str, float] = field(default_factory=dict)

    @property
    def vehicles_used(self) -> int:
        return sum(1 for r in self.routes if r)


def route_distance(problem: Problem, vehicle: int, route: Sequence[int]) -> float:
    """Distance of a route from the vehicle's start node to its end node."""
    v = problem.vehicles[vehicle]
    path = [v.start, *route, v.end]
    d = problem.distance
    return float(sum(d[a, b] for a, b in zip(path, path[1:], strict=False)))


def total_distance(problem: Problem, routes: Sequence[Sequence[int]]) -> float:
    return sum(route_distance(problem, k, r) for k, r in enumerate(routes) if r)


def moved_stops(problem: Problem, routes: Sequence[Sequence[int]]) -> int:
    """Clients of ``initial_routes`` that the routes serve on another vehicle."""
    before = problem.initial_vehicle()
    return sum(1 for k, r in enumerate(routes) for n in r if before.get(n, k) != k)
