"""Routing benchmark: the engine beside plain PyVRP and plain OR-Tools, cold and mid-day.

    python -m bench.engine PATH... [--seconds S] [--vs pyvrp,ortools] [--bks FILE]
                                   [--replan F [--disrupt urgent,breakdown] [--churn C]
                                               [--fair wall|cpu]]
    python -m bench.engine --generate N [--seconds S] [--vs pyvrp] [--out DIR]
    (both: [--json] [--cpu K] [--rss])

Per instance: the engine's cold plan, and with ``--vs`` the same file solved by the plain
libraries at the same limit (see ``bench.vrptw``); with ``--replan F``, each route's first
fraction F is served, ``--disrupt`` changes something (a new urgent order, a breakdown, a
closed window), and the engine's re-plan is compared with continuing (the current routes
with the cheapest fix) and with plain PyVRP solving the same mid-day problem at the same
limit (``--fair cpu``: with the CPU time the re-plan had instead, for a busy machine). ``--generate N`` writes a reproducible N-customer Solomon-style instance and a
street-network day of N orders, and measures both (see ``bench.streetday``).

Every row is measured the same way: wall time of the whole call, the first feasible
solution's time from the call, the CPU time of both (the machine may be shared: CPU time
is what a busy machine does not inflate), distance in double precision from the routes,
feasibility by the independent check, the 1-minute load average when it started, and with
``--rss`` the peak resident memory of a fresh process that ran only that solve.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import engine.solver.ortools_backend
import engine.solver.pyvrp_backend  # noqa: F401  (imported before any clock starts, as in the app)
from bench.vrptw import (
    disrupt,
    generate_solomon,
    midday,
    per_vehicle,
    plain_ortools,
    plain_pyvrp,
    plain_pyvrp_problem,
    read_points,
    read_solomon,
)
from engine.check import check
from engine.problem import Problem, total_distance
from engine.solver import SolveCallbacks, continuing, replan, solve

__all__ = ["main", "midday", "read_solomon"]

SOLVERS = ("pyvrp", "ortools")
DISRUPTIONS = ("urgent", "breakdown", "window", "none")


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


@dataclass
class Row:
    instance: str
    solver: str
    distance: float
    vehicles: int
    feasible: bool
    unassigned: int
    seconds: float
    limit: float
    first_feasible_ms: float | None = None
    gap_pct: float | None = None  # to the best known solution
    backend: str = ""
    load: float = 0.0  # 1-minute load average at the start of the run
    rss_mb: float | None = None
    cpu_s: float | None = None  # CPU time of the whole call (this process)
    first_feasible_cpu_ms: float | None = None  # CPU time to the first feasible solution
    extra: dict = field(default_factory=dict)


class _First(SolveCallbacks):
    def __init__(self) -> None:
        self.first: float | None = None
        self.cpu_started = time.process_time()
        self.first_cpu: float | None = None

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        if self.first is None:
            self.first = elapsed_s
            self.first_cpu = time.process_time() - self.cpu_started


# --- single runs (each may run in a fresh process, for its peak memory) ----------------------


def run_engine(path: str, seconds: float, backend: str, seed: int) -> dict:
    problem = read_solomon(path)
    first = _First()
    started = time.perf_counter()
    sol = solve(problem, seconds, callbacks=first, seed=seed, backend=backend)
    wall = time.perf_counter() - started
    return {
        "routes": [list(r) for r in sol.routes],
        "seconds": wall,
        "first": first.first,
        "backend": sol.solver,
        "cpu": time.process_time() - first.cpu_started,
        "first_cpu": first.first_cpu,
    }


def run_plain(path: str, seconds: float, solver: str, seed: int) -> dict:
    cpu = time.process_time()
    res = plain_pyvrp(path, seconds, seed) if solver == "pyvrp" else plain_ortools(path, seconds)
    return {"routes": res.routes, "seconds": res.seconds, "first": res.first_feasible_s,
            "backend": solver, "cpu": time.process_time() - cpu,
            "first_cpu": res.first_feasible_cpu_s}  # fmt: skip


def _measured(fn: Callable, args: tuple, rss: bool) -> tuple[dict, float | None]:
    """Run ``fn(*args)``; with ``rss``, alone in a fresh process, with its peak RSS (MB)."""
    if not rss:
        return fn(*args), None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_with_rss, fn, args).result()


def _with_rss(fn: Callable, args: tuple) -> tuple[dict, float]:
    from bench.streetday import peak_rss_mb

    out = fn(*args)
    return out, peak_rss_mb()


def _row(name, solver, problem: Problem, out: dict, seconds, bks, rss) -> Row:
    routes = per_vehicle(problem, out["routes"])
    dist = total_distance(problem, routes)
    served = {n for r in routes for n in r}
    return Row(
        instance=name,
        solver=solver,
        distance=dist,
        vehicles=sum(1 for r in routes if r),
        feasible=not check(problem, routes, require_all=True),
        unassigned=sum(1 for c in problem.clients if c not in served),
        seconds=out["seconds"],
        limit=seconds,
        first_feasible_ms=None if out["first"] is None else out["first"] * 1000,
        gap_pct=100.0 * (dist / bks[name] - 1.0) if name in bks else None,
        backend=out["backend"],
        rss_mb=rss,
        cpu_s=out.get("cpu"),
        first_feasible_cpu_ms=None if out.get("first_cpu") is None else out["first_cpu"] * 1000,
    )


def run_cold(path: Path, args, bks: dict[str, float]) -> tuple[list[Row], list[list[int]]]:
    """The engine's cold plan, then each plain solver asked for, at the same limit; and the
    engine's routes (what a re-plan starts from)."""
    problem = read_solomon(path)
    name = path.stem.upper()
    rows = []
    load = os.getloadavg()[0]
    out, rss = _measured(run_engine, (str(path), args.seconds, args.backend, args.seed), args.rss)
    rows.append(_row(name, "engine", problem, out, args.seconds, bks, rss))
    rows[-1].load = load
    routes = per_vehicle(problem, out["routes"])
    for solver in args.vs:
        load = os.getloadavg()[0]
        out, rss = _measured(run_plain, (str(path), args.seconds, solver, args.seed), args.rss)
        rows.append(_row(name, solver, problem, out, args.seconds, bks, rss))
        rows[-1].load = load
    return rows, routes


def run_replan(path: Path, args, cold: Row, routes) -> Row:
    """Re-plan at ``args.replan`` after ``args.disrupt``, beside continuing and plain PyVRP."""
    problem = read_solomon(path)
    mid = midday(problem, routes, args.replan)
    mid = disrupt(mid, read_points(path), args.disrupt, seed=len(problem.clients))
    mid = replace(mid, churn_penalty=args.churn)
    load = os.getloadavg()[0]
    first = _First()
    started = time.perf_counter()
    sol = replan(mid, args.seconds, callbacks=first, seed=args.seed)
    wall = time.perf_counter() - started
    cpu = time.process_time() - first.cpu_started
    new = [list(r) for r in sol.routes]
    cont = continuing(mid)
    fresh_cpu = time.process_time()
    fair = cpu if args.fair == "cpu" else None  # the CPU time the re-plan had, whole call
    fresh = plain_pyvrp_problem(mid, args.seconds, args.seed, cpu_seconds=fair)
    fresh_cpu = time.process_time() - fresh_cpu
    fresh_ok = not check(mid, fresh.routes, require_all=True)
    served = {n for r in new for n in r}
    return Row(
        instance=f"{cold.instance}@{args.replan:g}",
        solver="replan",
        distance=total_distance(mid, new),
        vehicles=sum(1 for r in new if r),
        feasible=not check(mid, new, require_all=True),
        unassigned=sum(1 for c in mid.clients if c not in served),
        seconds=wall,
        limit=args.seconds,
        first_feasible_ms=None if first.first is None else first.first * 1000,
        backend=sol.solver,
        load=load,
        cpu_s=cpu,
        first_feasible_cpu_ms=None if first.first_cpu is None else first.first_cpu * 1000,
        extra={
            "disruption": ",".join(args.disrupt),
            "replan_distance": total_distance(mid, new),
            "continue_distance": total_distance(mid, cont),
            "continue_unassigned": sum(1 for c in mid.clients if c not in {n for r in cont for n in r}),
            "fresh_distance": total_distance(mid, fresh.routes) if fresh_ok else None,
            "fresh_seconds": fresh.seconds,
            "fresh_cpu_s": fresh_cpu,
            "fresh_limit": "cpu" if fair is not None else "wall",
            "fresh_iterations": fresh.iterations,
            "fresh_search_s": fresh.search_s,
            "replan_fresh_iterations": sol.search.get("iterations"),
            "replan_fresh_search_s": sol.search.get("seconds"),
            "stops_moved": sol.moved,
            "churn_penalty": args.churn,
            "churn_paid": args.churn * sol.moved,
            "candidates": {k: round(v, 3) for k, v in sol.candidates.items()},
        },
    )  # fmt: skip


# --- output ------------------------------------------------------------------------------------


def as_json(row: Row) -> dict:
    """The row as one flat JSON object (its extra figures at the top level)."""
    out = asdict(row)
    out.update(out.pop("extra"))
    return out


def _fmt(row: Row) -> str:
    gap = "" if row.gap_pct is None else f"{row.gap_pct:+7.2f}%"
    first = "-" if row.first_feasible_ms is None else f"{row.first_feasible_ms:.0f}ms"
    line = (
        f"{row.instance:<14} {row.solver:<8} {row.distance:11.2f} {row.vehicles:4d} "
        f"{'yes' if row.feasible else 'NO':>4} {row.unassigned:3d} {row.seconds:7.2f}s "
        f"{first:>8} {row.load:5.2f} {gap}"
    )
    if row.cpu_s is not None:
        line += f" cpu={row.cpu_s:.2f}s"
    if row.first_feasible_cpu_ms is not None:
        line += f" first_cpu={row.first_feasible_cpu_ms:.0f}ms"
    if row.rss_mb is not None:
        line += f" rss={row.rss_mb:.0f}MB"
    x = row.extra
    if "replan_distance" in x:
        fresh = "-" if x["fresh_distance"] is None else f"{x['fresh_distance']:.2f}"
        line += (
            f" [{x['disruption']}] continue={x['continue_distance']:.2f} fresh={fresh}"
            f" (cpu {x['fresh_cpu_s']:.2f}s)"
            f" fresh search {_search(x['replan_fresh_search_s'], x['replan_fresh_iterations'])}"
            f" vs plain {_search(x['fresh_search_s'], x['fresh_iterations'])}"
            f" moved={x['stops_moved']} churn={x['churn_paid']:g} won={row.backend}"
        )
    if "insert_median_ms" in x:
        line += (
            f" [{x['orders']} orders, {x['vehicles']} vehicles] matrix={x['matrix_s']:.2f}s"
            f" (cpu {x['matrix_cpu_s']:.2f}) plan cpu={x['plan_cpu_s']:.2f}s"
            f" served={x['served']} insert={x['insert_median_ms']:.1f}ms"
            f" (cpu {x['insert_cpu_median_ms']:.1f}, p95 {x['insert_p95_ms']:.1f},"
            f" rebuild {x['insert_rebuild_ms']:.0f}) suggest={x['suggest_median_ms']:.1f}ms"
            f" (cpu {x['suggest_cpu_median_ms']:.1f}) evaluate={x['evaluate_median_us']:.0f}us"
            f" apply={x['apply_median_ms']:.1f}ms; breakdown re-plan"
            f" {x['replan_seconds']:.2f}s first={x['replan_first_ms'] or 0:.0f}ms"
            f" won={x['replan_strategy']} unassigned={x['replan_unassigned']}"
        )
        if "rss_phases_mb" in x:
            line += f"; peak MB after {_phases(x['rss_phases_mb'])}"
    return line


def _search(seconds: float | None, iterations: float | None) -> str:
    """A PyVRP search's length (from its first iteration) and iterations, or '-'."""
    if seconds is None or iterations is None:
        return "-"
    return f"{seconds:.2f}s/{iterations:.0f}it"


def _phases(peaks: dict) -> str:
    """A street day's peak memory after each of its phases: which one raised it."""
    names = {"start": "start", "matrix": "matrix", "plan": "plan", "kept": "kept context",
             "replan": "re-plan"}  # fmt: skip
    return ", ".join(f"{names.get(k, k)} {v:.0f}" for k, v in peaks.items())


HEADER = (
    f"{'instance':<14} {'solver':<8} {'distance':>11} {'veh':>4} {'feas':>4} {'un':>3} "
    f"{'wall':>8} {'first':>8} {'load':>5} gap"
)


def summary(rows: list[Row]) -> list[str]:
    out = []
    cold = [r for r in rows if r.solver != "replan" and r.backend != "street"]
    for solver in sorted({r.solver for r in cold}):
        rs = [r for r in cold if r.solver == solver]
        gaps = [r.gap_pct for r in rs if r.gap_pct is not None and r.feasible]
        solved = sum(1 for r in rs if r.feasible)
        over = max(r.seconds / r.limit for r in rs)
        mean = f"{statistics.fmean(gaps):+.2f}%" if gaps else "n/a"
        out.append(
            f"summary {solver}: solved {solved}/{len(rs)}, mean gap to BKS {mean}, "
            f"mean distance {statistics.fmean(r.distance for r in rs):.2f}, "
            f"worst wall/limit {over:.3f}"
        )
    by = {(r.instance, r.solver): r for r in cold}
    for solver in SOLVERS:
        pairs = [
            (r, by[(r.instance, solver)])
            for r in cold
            if r.solver == "engine" and (r.instance, solver) in by
            and r.feasible and by[(r.instance, solver)].feasible
        ]  # fmt: skip
        if pairs:
            diffs = [100.0 * (e.distance / p.distance - 1.0) for e, p in pairs]
            firsts = [
                e.first_feasible_ms / p.first_feasible_ms
                for e, p in pairs
                if e.first_feasible_ms and p.first_feasible_ms
            ]
            cpus = [
                e.first_feasible_cpu_ms / p.first_feasible_cpu_ms
                for e, p in pairs
                if e.first_feasible_cpu_ms and p.first_feasible_cpu_ms
            ]
            ratio = (
                f", first feasible engine/{solver} median {statistics.median(firsts):.2f}"
                if firsts
                else ""
            )
            if cpus:
                ratio += f" (CPU time: median {statistics.median(cpus):.2f}, max {max(cpus):.2f})"
            out.append(
                f"summary engine vs {solver}: mean {statistics.fmean(diffs):+.2f}% "
                f"(worst {max(diffs):+.2f}%) over {len(pairs)} instances{ratio}"
            )  # fmt: skip
    for r in rows:
        if r.backend == "street":
            x = r.extra
            out.append(
                f"summary {r.instance}: plan {r.seconds:.2f} s for {r.limit:g} s, matrix "
                f"{x['matrix_s']:.2f} s (CPU {x['matrix_cpu_s']:.2f} s), insertion median {x['insert_median_ms']:.1f} ms "
                f"(CPU {x['insert_cpu_median_ms']:.1f} ms), suggestion median "
                f"{x['suggest_median_ms']:.1f} ms (CPU {x['suggest_cpu_median_ms']:.1f} ms), "
                f"peak {r.rss_mb:.0f} MB (after {_phases(x.get('rss_phases_mb', {}))}), "
                f"load {r.load:.1f}"
            )
    re = [r for r in rows if r.solver == "replan"]
    if re:
        worse_c = sum(1 for r in re if r.distance > r.extra["continue_distance"] + 1e-6
                      and r.extra["continue_unassigned"] == 0)  # fmt: skip
        fresh = [r for r in re if r.extra["fresh_distance"] is not None]
        worse_f = sum(1 for r in fresh if r.distance > r.extra["fresh_distance"] + 1e-6)
        firsts = sorted(r.first_feasible_ms for r in re if r.first_feasible_ms is not None)
        cpus = sorted(r.first_feasible_cpu_ms for r in re if r.first_feasible_cpu_ms is not None)
        cpu = (
            f" (CPU median {statistics.median(cpus):.1f} ms, max {cpus[-1]:.1f} ms)" if cpus else ""
        )
        out.append(
            f"summary replan: {len(re)} re-plans, feasible {sum(r.feasible for r in re)}, "
            f"longer than continuing {worse_c}, longer than fresh PyVRP {worse_f}/{len(fresh)}"
            f" (fresh limit: {re[0].extra['fresh_limit']}), "
            f"first feasible median {statistics.median(firsts):.1f} ms, max {firsts[-1]:.1f} ms"
            f"{cpu}, worst wall/limit {max(r.seconds / r.limit for r in re):.3f}"
            if firsts else f"summary replan: {len(re)} re-plans"
        )  # fmt: skip
    return out


# --- main ----------------------------------------------------------------------------------------


def _solvers(text: str) -> list[str]:
    names = [s for s in text.split(",") if s]
    bad = [s for s in names if s not in SOLVERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown solver(s) {bad}; choose from {SOLVERS}")
    return names


def _disruptions(text: str) -> list[str]:
    names = [s for s in text.split(",") if s]
    bad = [s for s in names if s not in DISRUPTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown disruption(s) {bad}; choose from {DISRUPTIONS}")
    return names


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", metavar="PATH", help="instance files or folders")
    ap.add_argument("--seconds", type=float, default=5.0, help="time limit per solve")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--bks", type=Path, help="CSV with instance,vehicles,distance")
    ap.add_argument(
        "--bks-column", default="distance", help="BKS column (e.g. distance_double_of_bks_routes)"
    )
    ap.add_argument("--vs", type=_solvers, default=[], help="plain solvers beside the engine: "
                    "pyvrp, ortools or pyvrp,ortools")  # fmt: skip
    ap.add_argument("--replan", type=float, metavar="FRACTION", help="also re-plan mid-day")
    ap.add_argument("--disrupt", type=_disruptions, default=["urgent", "breakdown"],
                    help="what changes before the re-plan: urgent, breakdown, window or none, "
                    "comma-separated (default urgent,breakdown: both)")  # fmt: skip
    ap.add_argument("--fair", choices=["wall", "cpu"], default="wall", help="--replan: the "
                    "fresh PyVRP solve stops at the wall-clock limit (default) or when it has "
                    "had the CPU time the re-plan had (on a busy machine)")  # fmt: skip
    ap.add_argument("--churn", type=float, default=0.0, help="re-plan churn penalty per moved "
                    "stop, in distance units (default 0: distance only)")  # fmt: skip
    ap.add_argument(
        "--backend",
        choices=["auto", "pyvrp", "ortools"],
        default="auto",
        help="engine cold-start backend (auto: PyVRP where it fits)",
    )
    ap.add_argument("--seed", type=int, default=0, help="solver seed (the same for every solver)")
    ap.add_argument("--generate", type=int, metavar="N", help="write and solve an N-customer "
                    "instance and an N-order street-network day")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("bench-out"), help="where --generate writes")
    ap.add_argument("--no-street", action="store_true", help="--generate: skip the street day")
    ap.add_argument("--cpu", type=int, help="pin the benchmark (and its processes) to this core")
    ap.add_argument("--rss", action="store_true", help="each solve in a fresh process, with its "
                    "peak memory (on by default with --generate)")  # fmt: skip
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.replan is not None and not 0.0 < args.replan < 1.0:
        ap.error(f"--replan: {args.replan} is not a fraction between 0 and 1")
    if not args.paths and args.generate is None:
        ap.error("name instance files or folders, or --generate N")
    if args.seconds <= 0:
        ap.error(f"--seconds: {args.seconds} must be positive")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        files = instance_files(args.paths)
        bks = read_bks(args.bks, args.bks_column) if args.bks else {}
        if args.generate is not None:
            args.rss = True
            args.out.mkdir(parents=True, exist_ok=True)
            gen = args.out / f"GEN{args.generate}_{args.seed + 1}.txt"
            gen.write_text(generate_solomon(args.generate, seed=args.seed + 1))
            files.append(gen)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows: list[Row] = []

    def emit(row: Row) -> None:
        rows.append(row)
        print(json.dumps(as_json(row)) if args.json else _fmt(row), flush=True)

    if not args.json:
        print(HEADER)
    for path in files:
        try:
            batch, routes = run_cold(path, args, bks)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for row in batch:
            emit(row)
        if args.replan is not None:
            emit(run_replan(path, args, batch[0], routes))
    if args.generate is not None and not args.no_street:
        from bench.streetday import run_street_day

        for row in run_street_day(args.generate, args.seconds, args.out, args.seed):
            emit(row)
    lines = summary(rows)
    for line in lines:
        print(json.dumps({"summary": line}) if args.json else line)
    return 0 if all(r.feasible for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
