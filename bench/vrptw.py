"""VRPTW instances for the engine benchmark, and the plain solvers it is compared with.

- ``read_solomon`` / ``read_points``: a Solomon-format file as the engine's ``Problem`` and
  as its coordinates;
- ``generate_solomon``: a reproducible N-customer instance in the same format (half the
  customers in clusters, half spread out; narrow, medium and wide windows; one customer
  per 4 vehicles, capacity 200), feasible customer by customer;
- ``plain_pyvrp`` / ``plain_ortools``: the instance solved by the libraries alone, as their
  documentation does it, with no engine code on the path: ``pyvrp.solve`` on
  ``ProblemData`` built from ``vrplib.read_instance``, and an OR-Tools ``RoutingModel``
  (path-cheapest-arc first solution, guided local search);
- ``midday`` and the disruptions (an urgent order, a breakdown, a closed window), and
  ``plain_pyvrp_problem``: plain PyVRP on a mid-day problem (each vehicle from where it
  is, with its free capacity, from the moment it is free).

Rounding is the same everywhere: distances x1000 to the nearest integer, travel and
service times x1000 rounded up, windows opening rounded up and closing rounded down (so
an integer schedule is a feasible one in exact arithmetic). Results are measured and
checked the same way for every solver: distance in double precision from the routes,
feasibility by ``engine.problem.check`` (which recomputes every route from the data).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.problem import NodeSpec, Problem, VehicleSpec

SCALE = 1000
INT_MAX = np.iinfo(np.int64).max


def _up(x: float) -> int:
    return int(math.ceil(x * SCALE - 1e-7))


def _down(x: float) -> int:
    return int(math.floor(x * SCALE + 1e-7))


def read_solomon(path: Path | str) -> Problem:
    """A Solomon-format instance as a Problem (node 0 is the depot)."""
    path = Path(path)
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    numbers = [ln.split() for ln in lines if ln.strip() and ln.split()[0].isdigit()]
    if len(numbers) < 3 or len(numbers[0]) != 2:
        raise ValueError(f"{path}: not a Solomon file (no VEHICLE NUMBER/CAPACITY line)")
    fleet, capacity = int(numbers[0][0]), float(numbers[0][1])
    rows = []
    for i, row in enumerate(numbers[1:], 1):
        if len(row) != 7:
            raise ValueError(f"{path}: customer row {i} has {len(row)} fields, expected 7")
        rows.append([float(x) for x in row])
    xy = np.array([[r[1], r[2]] for r in rows])
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    depot = rows[0]
    nodes = [NodeSpec(name="depot")] + [
        NodeSpec(demand=(r[3],), windows=((r[4], r[5]),), service=r[6], name=str(int(r[0])))
        for r in rows[1:]
    ]
    vehicle = VehicleSpec(start=0, end=0, capacity=(capacity,), earliest=depot[4], latest=depot[5])
    return Problem(
        distance=dist,
        duration=dist,
        nodes=tuple(nodes),
        vehicles=(vehicle,) * fleet,
        clients=tuple(range(1, len(rows))),
        dimensions=("load",),
    )


def read_points(path: Path | str) -> np.ndarray:
    """The instance's coordinates, one row per node (depot first)."""
    import vrplib

    return np.asarray(vrplib.read_instance(str(path), instance_format="solomon")["node_coord"])


# --- generated instances -------------------------------------------------------------------


def generate_solomon(n: int, seed: int = 1) -> str:
    """A reproducible Solomon-format instance with ``n`` customers (the file's text).

    The square grows with the customer count (like Gehring & Homberger's sets), the depot is
    in the middle, the horizon is 4.5 sides; every customer can be served alone (its window
    opens no later than it can be reached and closes in time to drive back).
    """
    if n < 2:
        raise ValueError(f"--generate: {n} customers is too few (at least 2)")
    rng = np.random.default_rng([n, seed])
    side = 70.0 * math.sqrt(n / 50.0)
    horizon = round(4.5 * side)
    depot = (round(side / 2), round(side / 2))
    half = n // 2
    centres = rng.uniform(0.1 * side, 0.9 * side, size=(max(1, n // 25), 2))
    clustered = centres[rng.integers(len(centres), size=half)]
    clustered = clustered + rng.normal(0.0, side / 30, size=(half, 2))
    spread = rng.uniform(0.0, side, size=(n - half, 2))
    points = np.clip(np.rint(np.vstack([clustered, spread])), 0, round(side)).astype(int)
    service = 10
    lines = [
        f"GEN{n}_{seed}", "", "VEHICLE", "NUMBER     CAPACITY", f"{n // 4:>4d}{200:>13d}", "",
        "CUSTOMER",
        "CUST NO.  XCOORD.    YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME", " ",
        f"{0:5d}{depot[0]:8d}{depot[1]:11d}{0:11d}{0:11d}{horizon:11d}{0:11d}",
    ]  # fmt: skip
    for i, (x, y) in enumerate(points, 1):
        d = math.hypot(x - depot[0], y - depot[1])
        lo, hi = math.ceil(d), math.floor(horizon - service - d) - 1
        kind = rng.random()
        if kind < 0.5:
            width = int(rng.integers(10, 31))
        elif kind < 0.75:
            width = int(rng.integers(60, 121))
        else:
            width = horizon // 4
        centre = int(rng.integers(lo, hi + 1))
        due = min(hi, centre + width // 2)
        ready = min(max(0, centre - width // 2), due)
        demand = int(rng.integers(1, 41))
        lines.append(f"{i:5d}{x:8d}{y:11d}{demand:11d}{ready:11d}{due:11d}{service:11d}")
    return "\n".join(lines) + "\n"


# --- plain solvers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlainResult:
    """Routes as node numbers of the file (depot 0), and when the first feasible one came."""

    routes: list[list[int]]
    seconds: float
    first_feasible_s: float | None
    solver_feasible: bool
    first_feasible_cpu_s: float | None = None  # this process's CPU time to the first one
    iterations: int | None = None  # PyVRP's, where it solved
    search_s: float | None = None  # PyVRP's search, as its ``MaxRuntime`` counts it


class _FirstFeasible:
    """A PyVRP stopping criterion around another that notes the first feasible moment."""

    def __init__(self, inner, started: float, cpu: float) -> None:
        self.inner, self.started, self.cpu = inner, started, cpu
        self.first: float | None = None
        self.first_cpu: float | None = None

    def __call__(self, best_cost: int) -> bool:
        if self.first is None and best_cost < INT_MAX:
            self.first = time.perf_counter() - self.started
            self.first_cpu = time.process_time() - self.cpu
        return self.inner(best_cost)


def plain_pyvrp(path: Path | str, seconds: float, seed: int = 0) -> PlainResult:
    """``pyvrp.solve`` on the file as ``vrplib`` reads it, for ``seconds`` (``MaxRuntime``)."""
    import vrplib
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType, solve
    from pyvrp.stop import MaxRuntime

    inst = vrplib.read_instance(str(path), instance_format="solomon")
    started = time.perf_counter()  # reading the file is not the solver's time (nor the engine's)
    cpu = time.process_time()
    edges, tw = inst["edge_weight"], inst["time_window"]
    clients = [
        Client(
            location=i,
            delivery=[int(inst["demand"][i])],
            service_duration=_up(inst["service_time"][i]),
            tw_early=_up(tw[i][0]),
            tw_late=_down(tw[i][1]),
        )
        for i in range(1, len(tw))
    ]
    vehicles = VehicleType(
        num_available=int(inst["vehicles"]),
        capacity=[int(inst["capacity"])],
        tw_early=_up(tw[0][0]),
        tw_late=_down(tw[0][1]),
    )
    data = ProblemData(
        locations=[Location(float(x), float(y)) for x, y in inst["node_coord"]],
        clients=clients,
        depots=[Depot(location=0)],
        vehicle_types=[vehicles],
        distance_matrices=[np.rint(edges * SCALE).astype(np.int64)],
        duration_matrices=[np.ceil(edges * SCALE - 1e-7).astype(np.int64)],
    )
    stop = _FirstFeasible(MaxRuntime(seconds), started, cpu)
    result = solve(data, stop=stop, seed=seed, collect_stats=False, display=False)
    routes = [[a.idx + 1 for a in r.schedule() if a.is_client()] for r in result.best.routes()]
    return PlainResult(routes, time.perf_counter() - started, stop.first,
                       result.best.is_feasible(), stop.first_cpu,
                       result.num_iterations, result.runtime)  # fmt: skip


def plain_ortools(path: Path | str, seconds: float) -> PlainResult:
    """OR-Tools routing as in its VRPTW guide: path-cheapest-arc, guided local search."""
    import vrplib
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    inst = vrplib.read_instance(str(path), instance_format="solomon")
    started = time.perf_counter()  # reading the file is not the solver's time (nor the engine's)
    cpu = time.process_time()
    edges, tw = inst["edge_weight"], inst["time_window"]
    n, fleet = len(tw), int(inst["vehicles"])
    dist = np.rint(edges * SCALE).astype(np.int64)
    service = np.array([_up(s) for s in inst["service_time"]], dtype=np.int64)
    travel = np.ceil(edges * SCALE - 1e-7).astype(np.int64) + service[:, None]
    manager = pywrapcp.RoutingIndexManager(n, fleet, 0)
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(dist.tolist()))
    horizon = _down(tw[0][1])
    routing.AddDimension(routing.RegisterTransitMatrix(travel.tolist()), horizon, horizon,
                         False, "Time")  # fmt: skip
    time_dim = routing.GetDimensionOrDie("Time")
    for i in range(1, n):
        time_dim.CumulVar(manager.NodeToIndex(i)).SetRange(_up(tw[i][0]), _down(tw[i][1]))
    for k in range(fleet):
        time_dim.CumulVar(routing.Start(k)).SetRange(_up(tw[0][0]), horizon)
        time_dim.CumulVar(routing.End(k)).SetRange(_up(tw[0][0]), horizon)
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.Start(k)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(k)))
    demand = routing.RegisterUnaryTransitVector([int(d) for d in inst["demand"]])
    routing.AddDimensionWithVehicleCapacity(demand, 0, [int(inst["capacity"])] * fleet, True,
                                            "Capacity")  # fmt: skip
    first: list[tuple[float, float]] = []
    routing.AddAtSolutionCallback(
        lambda: first.append((time.perf_counter() - started, time.process_time() - cpu))
        if not first else None
    )  # fmt: skip
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    solution = routing.SolveWithParameters(params)
    routes: list[list[int]] = []
    if solution is not None:
        for k in range(fleet):
            index = solution.Value(routing.NextVar(routing.Start(k)))
            route = []
            while not routing.IsEnd(index):
                route.append(manager.IndexToNode(index))
                index = solution.Value(routing.NextVar(index))
            if route:
                routes.append(route)
    return PlainResult(
        routes, time.perf_counter() - started, first[0][0] if first else None,
        solution is not None, first[0][1] if first else None,
    )  # fmt: skip


def per_vehicle(problem: Problem, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """Routes of a homogeneous fleet padded to one per vehicle (for ``check``)."""
    out = [list(r) for r in routes][: problem.num_vehicles]
    return out + [[] for _ in range(problem.num_vehicles - len(out))]


# --- the mid-day problem ----------------------------------------------------------------------


def midday(problem: Problem, routes, fraction: float) -> Problem:
    """The day after each route's first ``fraction`` of stops is served.

    Vehicles that served something start at their last served stop when they left it, with
    that capacity used up; the others start at the depot.
    """
    from engine.evaluate import evaluate

    n = len(problem.nodes)
    extra, vehicles, remaining = [], [], []
    served: set[int] = set()
    for k, route in enumerate(routes):
        v = problem.vehicles[k]
        done = int(round(len(route) * fraction))
        if done == 0:
            vehicles.append(v)
            remaining.append(tuple(route))
            continue
        ev = evaluate(problem, k, route)
        last = route[done - 1]
        used = tuple(
            sum(problem.demand(x)[d] for x in route[:done]) for d in range(len(problem.dimensions))
        )
        served.update(route[:done])
        extra.append(last)
        vehicles.append(
            VehicleSpec(
                start=n + len(extra) - 1,
                end=v.end,
                capacity=v.capacity,
                earliest=ev.departures[done - 1],
                latest=v.latest,
                initial_load=used,
                name=f"at {last}",
            )
        )
        remaining.append(tuple(route[done:]))
    idx = list(range(n)) + extra
    nodes = list(problem.nodes) + [NodeSpec(name=f"at {last}") for last in extra]
    return Problem(
        distance=problem.distance[np.ix_(idx, idx)],
        duration=problem.duration[np.ix_(idx, idx)],
        nodes=tuple(nodes),
        vehicles=tuple(vehicles),
        clients=tuple(c for c in problem.clients if c not in served),
        dimensions=problem.dimensions,
        initial_routes=tuple(remaining),
    )


def place_of(problem: Problem, points: np.ndarray, node: int) -> np.ndarray:
    """Coordinates of a mid-day node (a vehicle's position is where its last stop was)."""
    name = problem.nodes[node].name
    if name.startswith("at "):
        return points[int(name.split()[1])]
    if node >= len(points):
        raise ValueError(f"node {node} ({name}): no coordinates")
    return points[node]


def disrupt(problem: Problem, points: np.ndarray, kinds: Sequence[str], seed: int) -> Problem:
    """The mid-day problem after something changed.

    ``urgent``: a new order between two open stops, due within half of what is left of the
    day; ``breakdown``: the vehicle with the most open stops stops for the day (they must go
    to others); ``window``: the last open stop of the longest route closes its window early
    (its vehicle can no longer make it).
    """
    rng = np.random.default_rng(seed)
    for kind in kinds:
        if kind == "urgent":
            problem = _urgent(problem, points, rng)
        elif kind == "breakdown":
            problem = _breakdown(problem)
        elif kind == "window":
            problem = _closed_window(problem)
        elif kind != "none":
            raise ValueError(f"--disrupt: unknown disruption {kind!r}")
    return problem


def _urgent(problem: Problem, points: np.ndarray, rng: np.random.Generator) -> Problem:
    open_ = list(problem.clients)
    a, b = rng.choice(open_, size=2, replace=False)
    where = (place_of(problem, points, int(a)) + place_of(problem, points, int(b))) / 2
    places = np.array([place_of(problem, points, i) for i in range(len(problem.nodes))])
    row = np.sqrt(((places - where) ** 2).sum(axis=1))
    n = len(problem.nodes)
    dist = np.zeros((n + 1, n + 1))
    dist[:n, :n] = problem.distance
    dist[n, :n], dist[:n, n] = row, row
    now = min(v.earliest for v in problem.vehicles)
    horizon = max(v.latest for v in problem.vehicles)
    back = float(dist[n, 0])
    service = problem.nodes[int(a)].service
    late = max(now + float(row.min()) + 1.0, now + (horizon - now - back - service) / 2)
    node = NodeSpec(
        demand=problem.nodes[int(a)].demand, windows=((now, late),), service=service, name="urgent"
    )
    init = problem.initial_routes
    return replace(
        problem,
        distance=dist,
        duration=dist.copy(),
        nodes=(*problem.nodes, node),
        clients=(*problem.clients, n),
        initial_routes=init,
    )


def _breakdown(problem: Problem) -> Problem:
    init = problem.initial_routes or ()
    k = max(range(len(init)), key=lambda j: (len(init[j]), -j))
    keep = [j for j in range(problem.num_vehicles) if j != k]
    return replace(
        problem,
        vehicles=tuple(problem.vehicles[j] for j in keep),
        initial_routes=tuple(init[j] for j in keep),
        locks={n: keep.index(v) for n, v in problem.locks.items() if v != k},
    )


def _closed_window(problem: Problem) -> Problem:
    from engine.evaluate import evaluate

    init = problem.initial_routes or ()
    k = max(range(len(init)), key=lambda j: (len(init[j]), -j))
    if not init[k]:
        return problem
    node = init[k][-1]
    ev = evaluate(problem, k, init[k])
    spec = problem.nodes[node]
    a, _ = spec.windows[0]
    close = max(a, ev.arrivals[-1] - 1.0)
    direct = min(v.earliest + problem.duration[v.start, node] for v in problem.vehicles)
    close = max(close, min(direct + 1.0, spec.windows[-1][1]))
    nodes = list(problem.nodes)
    nodes[node] = replace(spec, windows=((min(a, close), close),))
    return replace(problem, nodes=tuple(nodes))


class _CpuTime:
    """A PyVRP stopping criterion: this process's CPU time used up (fair on a busy machine,
    where the wall clock measures the neighbours as much as the solver)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.process_time()

    def __call__(self, best_cost: int) -> bool:
        return time.process_time() - self.started >= self.seconds


def plain_pyvrp_problem(
    problem: Problem,
    seconds: float,
    seed: int = 0,
    iterations: int | None = None,
    cpu_seconds: float | None = None,
) -> PlainResult:
    """``pyvrp.solve`` on a mid-day problem's data: a depot per vehicle position, a vehicle
    type per vehicle (its free capacity, from the moment it is free), every open stop
    required. The matrices, windows and demands are read from the problem's arrays; no
    engine code builds or solves the model. ``iterations``: stop after that many
    (``MaxIterations``) instead of after ``seconds``; ``cpu_seconds``: after that much CPU
    time of this process."""
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType, solve
    from pyvrp.stop import MaxIterations, MaxRuntime

    started = time.perf_counter()
    cpu = time.process_time()
    depots = sorted({v.start for v in problem.vehicles} | {v.end for v in problem.vehicles})
    clients = list(problem.clients)
    nodes = depots + clients
    edges = problem.distance[np.ix_(nodes, nodes)]
    times = problem.duration[np.ix_(nodes, nodes)]
    pclients = []
    for i, n in enumerate(clients):
        spec = problem.nodes[n]
        (early, late), *_ = spec.windows or ((0.0, math.inf),)
        pclients.append(
            Client(
                location=len(depots) + i,
                delivery=[_up(q) for q in spec.demand],
                service_duration=_up(spec.service),
                tw_early=_up(early),
                tw_late=_down(late) if math.isfinite(late) else INT_MAX // 4,
            )
        )
    types = [
        VehicleType(
            num_available=1,
            capacity=[_down(c - u) for c, u in zip(v.capacity, v.initial_load or (0,) * len(v.capacity), strict=True)],
            start_depot=depots.index(v.start),
            end_depot=depots.index(v.end),
            tw_early=_up(v.earliest),
            tw_late=_down(v.latest),
        )
        for v in problem.vehicles
    ]  # fmt: skip
    data = ProblemData(
        locations=[Location(0.0, 0.0) for _ in nodes],
        clients=pclients,
        depots=[Depot(location=i) for i in range(len(depots))],
        vehicle_types=types,
        distance_matrices=[np.rint(edges * SCALE).astype(np.int64)],
        duration_matrices=[np.ceil(times * SCALE - 1e-7).astype(np.int64)],
    )
    inner = (
        MaxIterations(iterations)
        if iterations is not None
        else _CpuTime(cpu_seconds - (time.process_time() - cpu))
        if cpu_seconds is not None
        else MaxRuntime(seconds)
    )
    stop = _FirstFeasible(inner, started, cpu)
    result = solve(data, stop=stop, seed=seed, collect_stats=False, display=False)
    routes: list[list[int]] = [[] for _ in problem.vehicles]
    for r in result.best.routes():
        routes[r.vehicle_type()] = [
            nodes[len(depots) + a.idx] for a in r.schedule() if a.is_client()
        ]
    return PlainResult(routes, time.perf_counter() - started, stop.first,
                       result.best.is_feasible(), stop.first_cpu,
                       result.num_iterations, result.runtime)  # fmt: skip
