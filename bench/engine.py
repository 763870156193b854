"""Benchmark on Solomon / Gehring-Homberger VRPTW files, optionally beside PyVRP.

    python -m bench.engine PATH... --seconds S [--json] [--bks FILE] [--replan F] [--vs pyvrp]

Solomon conventions: Euclidean distances in double precision, travel time = distance,
distance-only objective. Distances are recomputed from the returned routes, and
feasibility is checked independently of the solver.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.check import check
from engine.problem import NodeSpec, Problem, VehicleSpec, total_distance
from engine.solver import SolveCallbacks, replan, solve


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


def read_bks(path: Path | str, column: str = "distance") -> dict[str, float]:
    """Instance name -> best known distance from a CSV with ``instance`` and ``column``."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and column not in rows[0]:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(rows[0])})")
    return {row["instance"].upper(): float(row[column]) for row in rows}


def instance_files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() == ".txt"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return out


@dataclass(frozen=True)
class Row:
    instance: str
    solver: str
    distance: float
    vehicles: int
    feasible: bool
    unassigned: int
    seconds: float
    gap_pct: float | None = None
    first_feasible_ms: float | None = None
    continue_distance: float | None = None
    moved: int | None = None
    backend: str = ""


class _First(SolveCallbacks):
    def __init__(self) -> None:
        self.first: float | None = None

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        if self.first is None:
            self.first = elapsed_s


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
    nodes = list(problem.nodes) + [NodeSpec(name=f"position {i}") for i in range(len(extra))]
    return Problem(
        distance=problem.distance[np.ix_(idx, idx)],
        duration=problem.duration[np.ix_(idx, idx)],
        nodes=tuple(nodes),
        vehicles=tuple(vehicles),
        clients=tuple(c for c in problem.clients if c not in served),
        dimensions=problem.dimensions,
        initial_routes=tuple(remaining),
    )


def run_one(
    path: Path,
    seconds: float,
    backend: str,
    bks: dict[str, float],
    replan_at: float | None,
    label: str = "engine",
) -> list[Row]:
    problem = read_solomon(path)
    name = path.stem.upper()
    t0 = time.perf_counter()
    sol = solve(problem, seconds, backend=backend)
    secs = time.perf_counter() - t0
    routes = [list(r) for r in sol.routes]
    feasible = not check(problem, routes, require_all=True)
    dist = total_distance(problem, routes)
    gap = 100.0 * (dist / bks[name] - 1.0) if name in bks else None
    row = Row(
        name,
        label,
        dist,
        sol.vehicles_used,
        feasible,
        len(sol.unassigned),
        secs,
        gap,
        backend=sol.solver,
    )
    if replan_at is None:
        return [row]
    mid = midday(problem, routes, replan_at)
    first = _First()
    t0 = time.perf_counter()
    new = replan(mid, seconds, callbacks=first)
    secs = time.perf_counter() - t0
    new_routes = [list(r) for r in new.routes]
    before = {c: k for k, r in enumerate(mid.initial_routes or ()) for c in r}
    moved = sum(1 for k, r in enumerate(new_routes) for c in r if before.get(c) != k)
    return [
        row,
        Row(
            name + f"@{replan_at:g}",
            "replan",
            total_distance(mid, new_routes),
            new.vehicles_used,
            not check(mid, new_routes, require_all=True),
            len(new.unassigned),
            secs,
            None,
            None if first.first is None else first.first * 1000,
            total_distance(mid, mid.initial_routes or ()),
            moved,
        ),
    ]


def _fmt(row: Row) -> str:
    gap = "" if row.gap_pct is None else f"{row.gap_pct:+7.2f}%"
    line = (
        f"{row.instance:<12} {row.solver:<8} {row.distance:11.2f} {row.vehicles:4d} "
        f"{'yes' if row.feasible else 'NO':>4} {row.unassigned:3d} {row.seconds:7.2f}s {gap}"
    )
    if row.continue_distance is not None:
        first = "-" if row.first_feasible_ms is None else f"{row.first_feasible_ms:.1f}ms"
        line += f" first={first} continue={row.continue_distance:.2f} moved={row.moved}"
    return line


def summary(rows: list[Row]) -> str:
    out = []
    for solver in sorted({r.solver for r in rows}):
        rs = [r for r in rows if r.solver == solver]
        gaps = [r.gap_pct for r in rs if r.gap_pct is not None and r.feasible]
        solved = sum(1 for r in rs if r.feasible)
        mean = f"{statistics.fmean(gaps):+.2f}%" if gaps else "n/a"
        out.append(
            f"summary {solver}: solved {solved}/{len(rs)}, mean gap {mean}, "
            f"mean distance {statistics.fmean(r.distance for r in rs):.2f}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="instance files or folders")
    ap.add_argument("--seconds", type=float, default=5.0, help="time limit per instance")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--bks", type=Path, help="CSV with instance,vehicles,distance")
    ap.add_argument(
        "--bks-column", default="distance", help="BKS column (e.g. distance_double_of_bks_routes)"
    )
    ap.add_argument("--replan", type=float, metavar="FRACTION", help="also re-plan mid-day")
    ap.add_argument("--vs", choices=["pyvrp"], help="run plain PyVRP beside the engine")
    ap.add_argument(
        "--backend",
        choices=["auto", "pyvrp", "ortools"],
        default="auto",
        help="engine cold-start backend (auto: PyVRP where it fits)",
    )
    args = ap.parse_args(argv)
    if args.replan is not None and not 0.0 < args.replan < 1.0:
        ap.error(f"--replan: {args.replan} is not a fraction between 0 and 1")
    try:
        files = instance_files(args.paths)
        bks = read_bks(args.bks, args.bks_column) if args.bks else {}
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    if not args.json:
        print(
            f"{'instance':<12} {'solver':<8} {'distance':>11} {'veh':>4} {'feas':>4} "
            f"{'un':>3} {'seconds':>8} gap"
        )
    for path in files:
        try:
            batch = run_one(path, args.seconds, args.backend, bks, args.replan)
            if args.vs:
                batch += run_one(path, args.seconds, "pyvrp", bks, None, label="pyvrp")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for row in batch:
            rows.append(row)
            print(json.dumps(asdict(row)) if args.json else _fmt(row), flush=True)
    if not args.json:
        print(summary(rows))
    else:
        print(json.dumps({"summary": summary(rows)}))
    return (
        0 if all(r.feasible for r in rows) and not any(math.isnan(r.distance) for r in rows) else 1
    )


if __name__ == "__main__":
    sys.exit(main())
