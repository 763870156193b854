"""``python -m bench.responsiveness``: is the workstation responsive under a big fleet?

Runs the real window offscreen on a throwaway data directory, with a synthetic fleet of
``--vehicles`` vans (default 2,000) publishing 1 Hz fixes through a private Mosquitto (the
embedded broker, in its own process, when Mosquitto is missing). The window receives them
through its normal path: TelemetryService -> LiveFeed drain -> LiveSession -> map/timeline.
For ``--seconds`` it measures:

1. **main-thread stalls** — a 5 ms precise timer's lateness (gap between firings minus the
   interval): p50 / p99 / max;
2. **map paint latency** — from a batch of fixes reaching the map pane to the page having
   painted it (the batch is stamped just before the pane takes it, so the pane's own work
   and any wait for its 4 Hz pace count; the page stamps the frame after applying the
   batch; both sides use the system clock): p50 / p99 / max;
3. **fix published -> painted**: the same, counted from the oldest fix of the batch being
   published (so also the time it queued in the broker, the ingest and the drain's pace);
   messages received and accepted per second, and the vehicles the page shows at the end.

Targets: p99 stall < 50 ms, map paint < 200 ms (p99).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

STALL_TARGET_MS = 50.0
PAINT_TARGET_MS = 200.0
FIX_TO_PAINT_TARGET_MS = 1000.0  # median
TICK_MS = 5

#: Wraps the page's ``dd.apply``: logs [start, end, frame painted] (epoch ms, system clock)
#: and the vehicle rows of each batch; the frame is stamped in a task after the next
#: animation frame, i.e. once the browser has painted what the batch changed.
PROBE_JS = """(function () {
  if (window.ddBench) return 0;
  var log = [], inner = dd.apply, t0 = performance.timeOrigin;
  window.ddBench = { log: log };
  dd.apply = function (batch) {
    var a = t0 + performance.now(), out = inner(batch), b = t0 + performance.now();
    var rows = (batch.vehicleRows || []).length, entry = [a, b, null, rows];
    log.push(entry);
    requestAnimationFrame(function () {
      setTimeout(function () { entry[2] = t0 + performance.now(); }, 0);
    });
    return out;
  };
  return 1;
})()"""


def fleet(vehicles: int, seed: int, stops: int, start: datetime):
    """(DayInput, Plan): the synthetic fleet around the demo city, setting off at ``start``
    with delivery windows around it (same arguments, same fleet, in any process)."""
    from app.simulator import sweep_plan, synthetic_day
    from engine.model import TimeWindow

    day = synthetic_day(
        vehicles, seed=seed, day=start.date(), radius_km=4.0, stops_per_vehicle=stops
    )
    window = TimeWindow(start - timedelta(hours=1), start + timedelta(hours=10))
    day = replace(day, orders=tuple(replace(o, windows=(window,)) for o in day.orders))
    return day, sweep_plan(day, start=start.time().replace(tzinfo=None))


def _publish(url, vehicles, seed, stops, start_iso, seconds, ready, go, sent) -> None:
    """Child process: the fleet's fixes and stop events at 1 Hz in real time."""
    from app.simulator import Simulator
    from app.simulator.publisher import Publisher

    day, plan = fleet(vehicles, seed, stops, datetime.fromisoformat(start_iso))
    sim = Simulator(plan, day, seed=seed, rate_hz=1.0)
    pub = Publisher(url, qos=1).connect()
    ready.set()
    go.wait()
    sim.skip_to(time.time() - 1.0)
    t_end = time.time() + seconds
    parent = os.getppid()
    try:
        # ends with the bench too: a bench killed before its clean-up left a publisher
        # loading the machine for the rest of its time
        while time.time() < t_end and os.getppid() == parent:
            for topic, payload in sim.step(time.time()):
                pub.publish(topic, payload)
            sent.value = pub.sent
            time.sleep(0.05)
    finally:
        pub.close()


def _embedded_broker(port, ready, stop) -> None:
    """Child process: the embedded broker, for machines without Mosquitto."""
    from app.telemetry.broker import EmbeddedBroker

    broker = EmbeddedBroker(port, password="bench").start()
    ready.set()
    stop.wait()
    broker.stop()


def start_broker(stack: ExitStack, workdir: str) -> tuple[str, str]:
    """A private broker on a free port (never 1883): (url, kind); stopped by ``stack``."""
    from app.telemetry.broker import LOCAL_USER, free_port

    port = free_port()
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if os.path.exists(exe):
        conf = os.path.join(workdir, "mosquitto.conf")
        with open(conf, "w") as fh:
            fh.write(
                f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                "max_queued_messages 0\nmax_inflight_messages 0\n"
            )
        proc = subprocess.Popen(
            [exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        stack.callback(lambda: (proc.terminate(), proc.wait(10)))
        time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited at once (code {proc.returncode})")
        return f"mqtt://127.0.0.1:{port}", "mosquitto"
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_embedded_broker, args=(port, ready, stop), daemon=True)
    proc.start()
    stack.callback(lambda: (stop.set(), proc.join(10), proc.kill()))
    if not ready.wait(30):
        raise RuntimeError("the embedded broker did not start within 30 s")
    return f"mqtt://{LOCAL_USER}:bench@127.0.0.1:{port}", "embedded"


def seed_store(settings, day, plan) -> None:
    """Put the fleet's day and its plan into the (throwaway) store."""
    from app.store import open_store, repository

    store = open_store(settings.effective_database_url, workstation=settings.workstation_id)
    try:
        with store.session() as session:
            for upsert, items in (
                (repository.upsert_depots, day.depots),
                (repository.upsert_vehicles, day.vehicles),
                (repository.upsert_orders, day.orders),
            ):
                upsert(session, items, actor="bench")
        with store.session() as session:
            repository.save_plan(session, plan, actor="bench")
    finally:
        store.close()


def _seed_apart(url: str, vehicles: int, seed: int, stops: int, start_iso: str) -> None:
    """Child process: the fleet's day and plan built and stored, as ``seed_store`` does, so
    that the window's process holds only what the window itself reads and keeps."""
    from app.settings import Settings

    day, plan = fleet(vehicles, seed, stops, datetime.fromisoformat(start_iso))
    settings = Settings.from_env(demo=False, simulate=False, database_url="", mqtt_url=url)
    seed_store(settings, day, plan)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 / p99 / max of ``values`` (ms), rounded; None when there are none."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 1), "n": len(ordered)}


def _spin(ms: int) -> None:
    """Run the event loop for ``ms`` (never sleep on the main thread: that is a stall)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        _spin(100)
    return True


class _StallTracer:
    """What the main thread was running during its long stalls: a thread that, while the
    probe's timer is more than ``after_ms`` late, samples the main thread's Python stack
    every 2 ms. Each stall keeps its samples; :meth:`report` names, for the longest
    stalls, the slot the event loop called (the outermost project frame) and the
    innermost project frames seen most often. Sampling needs the interpreter lock, so a
    stall spent in C code that holds it is seen only as it ends."""

    def __init__(self, probe: _Probe, after_ms: float = 15.0) -> None:
        import threading

        self.probe, self.after_ms = probe, after_ms
        self.main = threading.main_thread().ident
        self.samples: dict[int, list[tuple[str, str]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-tracer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        while not self._stop.wait(0.002):
            late_ms = (time.perf_counter() - self.probe._last) * 1000.0 - TICK_MS
            if late_ms < self.after_ms or not self.probe._timer_active:
                continue
            frame = sys._current_frames().get(self.main)
            ours: list[str] = []
            first = ""
            while frame is not None:
                path, name = frame.f_code.co_filename, frame.f_code.co_name
                if path.startswith(root) and "/.venv/" not in path and "/bench/" not in path:
                    ours.append(f"{os.path.relpath(path, root)}:{name}")
                elif not first and "/bench/" not in path and not path.startswith("<"):
                    # no frame of ours: a library's (a pyqtgraph paint, say)
                    first = f"{path.rpartition('site-packages/')[2]}:{name}"
                frame = frame.f_back
            outer = ours[-1] if ours else first or "(Qt: no Python running)"
            inner = ours[0] if ours else first or "(Qt: no Python running)"
            # The stall is the gap that ends at the next tick: its index in probe.stalls.
            self.samples.setdefault(len(self.probe.stalls), []).append((outer, inner))

    def report(self, top: int = 12) -> list[dict]:
        """The ``top`` longest stalls: wall and CPU ms, and what ran (most samples first)."""
        from collections import Counter

        stalls = self.probe.stalls
        longest = sorted(range(len(stalls)), key=stalls.__getitem__, reverse=True)[:top]
        out = []
        for i in longest:
            seen = self.samples.get(i, [])
            out.append({
                "wall_ms": round(stalls[i], 1),
                "cpu_ms": round(self.probe.cpu[i], 1),
                "slots": Counter(o for o, _ in seen).most_common(2),
                "inner": Counter(n for _, n in seen).most_common(3),
            })  # fmt: skip
        return out


class _Probe:
    """Main-thread stalls from a precise timer, and batches of fixes reaching the map."""

    def __init__(self, window) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.map = window.map_pane
        self.stalls: list[float] = []
        #: The main thread's CPU time over each gap (same index as ``stalls``): a stall
        #: with little CPU was the machine's load or a wait for the interpreter lock.
        self.cpu: list[float] = []
        self._last_cpu = 0.0
        self._timer_active = False
        self.arrivals: list[tuple[float, int, float]] = []  # (epoch s, flushes, oldest fix)
        self.moved = 0
        self._last = 0.0
        self._timer = QTimer(window)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_tick)

    def start(self) -> None:
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()
        self._timer_active = True

    def stop(self) -> None:
        self._timer_active = False
        self._timer.stop()

    def _on_tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.cpu.append((cpu - self._last_cpu) * 1000.0)
        self.stalls.append(max(0.0, (now - self._last) * 1000.0 - TICK_MS))
        self._last, self._last_cpu = now, cpu

    def on_vehicles_moved(self, moved: dict) -> None:
        if not self._timer.isActive():
            return
        arrived = time.time()
        oldest = min((getattr(f, "ts", 0.0) or 0.0 for f in moved.values()), default=0.0)
        self.arrivals.append((arrived, self.map.flushes, oldest))
        self.moved += len(moved)


@dataclass
class FleetWindow:
    """The real window over a synthetic fleet's stored day, and the fleet's publisher
    (in its own process) connected and waiting for ``go``."""

    app: Any
    context: Any  # app.context.AppContext
    window: Any  # widgets.main_window.MainWindow
    day: Any  # the fleet's DayInput
    ready: Any  # set once the publisher is connected to the broker
    go: Any  # set it to start publishing
    sent: Any  # messages published so far (a shared counter)


def open_fleet_window(
    url: str, workdir: str, stack: ExitStack, *, vehicles: int, seed: int, stops: int,
    seconds: float, heap_settle: bool = True, hide_docks: Sequence[str] = (),
    seed_apart: bool = False,
) -> FleetWindow:  # fmt: skip
    """The window offscreen over ``vehicles`` vans' day stored in ``workdir``, listening to
    the broker at ``url``, with their publisher started (it publishes for ``seconds`` once
    ``go`` is set). ``hide_docks``: panes closed (by dock name). ``stack`` closes the
    window and stops the publisher. ``seed_apart``: the day is built and stored by a child
    process (the memory bench: building 2,000 vans' day and its database rows leaves
    Python's and the C heap's free room behind in the process that did it, which a window
    opening a stored day never has); ``FleetWindow.day`` is then None."""
    os.environ["DISPATCH_DATA_DIR"] = os.path.join(workdir, "data")
    os.environ["DISPATCH_MQTT_URL"] = url
    from widgets.app_main import _prepare_environment

    _prepare_environment(offscreen=True)
    from PySide6.QtWidgets import QApplication, QDockWidget

    import widgets.map_schemes  # noqa: F401 (registers ddtile: before the QApplication exists)
    from app.context import AppContext
    from app.settings import Settings
    from widgets.main_window import MainWindow

    start = datetime.now(UTC).replace(microsecond=0)
    ctx = mp.get_context("spawn")
    settings = Settings.from_env(demo=False, simulate=False, database_url="", mqtt_url=url)
    day = None
    if seed_apart:
        seeder = ctx.Process(
            target=_seed_apart, args=(url, vehicles, seed, stops, start.isoformat())
        )
        seeder.start()
        seeder.join()
        if seeder.exitcode != 0:
            raise RuntimeError(f"storing the fleet's day failed (exit code {seeder.exitcode})")
    else:
        day, plan = fleet(vehicles, seed, stops, start)
        seed_store(settings, day, plan)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Dispatch Desk")
    context = AppContext(settings, headless=True)
    if heap_settle:
        context.keep_heap_settled()
    window = MainWindow(context)
    window.show()
    for name in hide_docks:
        window.findChild(QDockWidget, f"dock_{name}").hide()

    def close() -> None:
        window.close()
        _spin(200)

    stack.callback(close)
    context.start()
    ready, go, sent = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    publisher = ctx.Process(
        target=_publish,
        args=(url, vehicles, seed, stops, start.isoformat(), seconds, ready, go, sent),
        daemon=True,
    )
    publisher.start()
    stack.callback(lambda: (publisher.join(10), publisher.kill()))
    return FleetWindow(app, context, window, day, ready, go, sent)


def _page_result(map_pane, script: str, timeout_s: float = 20.0):
    box: list = []
    map_pane.run_js(script, box.append)
    _wait_until(lambda: bool(box), timeout_s)
    return box[0] if box else None


def run_window(args, url: str, workdir: str, stack: ExitStack) -> dict:
    """Open the window over the fleet's day, run the fleet, measure; returns the figures."""
    fw = open_fleet_window(
        url, workdir, stack, vehicles=args.vehicles, seed=args.seed, stops=args.stops,
        seconds=args.warmup + args.seconds + 2.0, heap_settle=not args.no_heap_settle,
        hide_docks=args.without,
    )  # fmt: skip
    context, window, day = fw.context, fw.window, fw.day
    ready, go, sent = fw.ready, fw.go, fw.sent
    t0 = time.monotonic()
    settled = _wait_until(
        lambda: (
            window.map_pane.is_ready
            and context.state.plan is not None
            and context.live.connection == "connected"
            and ready.is_set()
            and context.jobs.is_idle()
        ),
        args.settle,
    )
    settle_s = time.monotonic() - t0
    if not ready.is_set():
        raise RuntimeError("the fleet publisher did not connect to the broker")
    probe = _Probe(window)
    # The probe stamps each batch just before the map pane takes it (slots run in the
    # order they were connected, and the pane may send a batch to the page at once).
    moved = context.live.sig_vehicles_moved
    moved.disconnect(window.map_pane.update_vehicles)
    moved.connect(probe.on_vehicles_moved)
    moved.connect(window.map_pane.update_vehicles)
    base = window.map_pane.flushes
    window.map_pane.run_js(PROBE_JS)
    go.set()
    _spin(int(args.warmup * 1000))
    service = context.live.service
    ingest = service.ingest
    received0, accepted0, flushes0 = ingest.received, ingest.accepted, window.map_pane.flushes
    passes0, eval_cpu0 = service.eval_passes, service.eval_cpu_s
    sent0 = sent.value
    tracer = _StallTracer(probe) if args.trace_stalls else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # the main thread's CPU, not the wall
    load_before = [round(x, 2) for x in os.getloadavg()]
    probe.start()
    if tracer is not None:
        tracer.start()
    if profiler is not None:
        profiler.enable()
    t_measure, cpu_measure = time.perf_counter(), time.thread_time()
    process_cpu = time.process_time()
    _spin(int(args.seconds * 1000))
    main_cpu_s = time.thread_time() - cpu_measure
    process_cpu_s = time.process_time() - process_cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    probe.stop()
    if tracer is not None:
        tracer.stop()
    measured_s = time.perf_counter() - t_measure
    passes, eval_cpu_s = service.eval_passes - passes0, service.eval_cpu_s - eval_cpu0
    received, accepted = ingest.received - received0, ingest.accepted - accepted0
    published_per_s = (sent.value - sent0) / measured_s
    flushes = window.map_pane.flushes - flushes0
    _spin(500)  # the last batches get painted and stamped
    raw = _page_result(
        window.map_pane,
        "JSON.stringify({log: window.ddBench ? ddBench.log : [],"
        " vehicles: Object.keys(dd.vehicles).length})",
    )
    page = json.loads(raw) if raw else {"log": [], "vehicles": None}
    paint, e2e = [], []
    for t_arrive, flushes_then, oldest in probe.arrivals:
        j = flushes_then - base
        if 0 <= j < len(page["log"]) and page["log"][j][2] is not None:
            painted = page["log"][j][2]
            paint.append(painted - t_arrive * 1000.0)
            if oldest:
                e2e.append(painted - oldest * 1000.0)
    applies = [b - a for a, b, _, rows in page["log"] if rows]
    stall, paint_stats = percentiles(probe.stalls), percentiles(paint)
    return {
        "load_avg_before": load_before,
        "vehicles": args.vehicles,
        "seconds": args.seconds,
        "without": args.without,
        "orders": len(day.orders),
        "settled": settled,
        "settle_s": round(settle_s, 1),
        "stall_ms": stall,
        # The main thread's own CPU over each gap between ticks, and over the whole time:
        # figures a loaded machine inflates far less than the wall-clock ones.
        "stall_cpu_ms": percentiles(probe.cpu),
        "main_cpu_pct": round(100.0 * main_cpu_s / measured_s, 1),
        "process_cpu_pct": round(100.0 * process_cpu_s / measured_s, 1),
        # The ETA and rules evaluation's thread: while it runs Python, the main thread
        # shares the interpreter lock with it.
        "eval_passes": passes,
        "eval_cpu_ms_per_pass": round(1000.0 * eval_cpu_s / passes, 1) if passes else None,
        "eval_cpu_pct": round(100.0 * eval_cpu_s / measured_s, 1),
        "longest_stalls": tracer.report() if tracer is not None else [],
        "paint_ms": paint_stats,
        "fix_to_paint_ms": percentiles(e2e),
        "apply_ms": percentiles(applies),
        "received_per_s": received / measured_s,
        "accepted_per_s": accepted / measured_s,
        "moved_per_s": probe.moved / measured_s,
        "published": sent.value,
        "published_per_s": published_per_s,
        # Fixes at 1 Hz per vehicle plus stop events: at least 95 % of one per vehicle a second.
        "publisher_kept_rate": published_per_s >= 0.95 * args.vehicles,
        "flushes": flushes,
        "vehicles_on_map": page["vehicles"],
        "stall_ok": stall["p99"] is not None and stall["p99"] < STALL_TARGET_MS,
        "paint_ok": paint_stats["p99"] is not None and paint_stats["p99"] < PAINT_TARGET_MS,
        "fix_to_paint_ok": bool(e2e) and percentiles(e2e)["p50"] < FIX_TO_PAINT_TARGET_MS,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.responsiveness", description=__doc__.split("\n")[0]
    )
    p.add_argument("--vehicles", type=int, default=2000, help="fleet size (default 2000)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured time (default 30)")
    p.add_argument("--stops", type=int, default=2, help="stops per vehicle (default 2)")
    p.add_argument("--warmup", type=float, default=5.0, help="fleet running before measuring")
    p.add_argument("--settle", type=float, default=240.0, help="max wait for the start-up jobs (s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--without",
        action="append",
        default=[],
        choices=("routes", "timeline", "exceptions"),
        help="hide this dock (repeatable): which pane costs what",
    )
    p.add_argument(
        "--no-heap-settle",
        action="store_true",
        help="leave the garbage collector as Python sets it (for comparison)",
    )
    p.add_argument(
        "--trace-stalls",
        action="store_true",
        help="sample the main thread's stack during stalls; print what ran in the longest",
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the main thread (its CPU time) while measuring; write the stats here",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.vehicles < 1 or args.seconds <= 0 or args.stops < 1 or args.warmup < 0:
        p.error("--vehicles and --stops must be at least 1, --seconds positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with ExitStack() as stack:
        workdir = tempfile.mkdtemp(prefix="dispatch-responsiveness-")
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        url, kind = start_broker(stack, workdir)
        result = run_window(args, url, workdir, stack)
        result["broker"] = kind
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    result["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["machine"] = f"{os.cpu_count()} cores"
    ok = result["stall_ok"] and result["paint_ok"] and result["fix_to_paint_ok"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
        print(summary_line(result))
    return 0 if ok else 1


def summary_line(r: dict) -> str:
    """One line: the three targets, the publisher, the load, when and where."""
    s, m, e = r["stall_ms"], r["paint_ms"], r["fix_to_paint_ms"]

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return (
        f"{r['vehicles']} vehicles: stall p99 {s['p99']} ms ({met(r['stall_ok'])}), paint p99 "
        f"{m['p99']} ms ({met(r['paint_ok'])}), fix -> painted p50 {e['p50']} ms "
        f"({met(r['fix_to_paint_ok'])}); main-thread CPU per gap p99 "
        f"{r['stall_cpu_ms']['p99']} ms, {r['main_cpu_pct']:g} % of a core; "
        f"{r['received_per_s']:.0f} of {r['vehicles']} msg/s "
        f"received, publisher {'kept' if r['publisher_kept_rate'] else 'did NOT keep'} its "
        f"rate; load average {r['load_avg_before']} -> {r['load_avg']}, {r['machine']}, {r['when']}"
    )


def print_table(r: dict) -> None:
    """The figures as a small table, and whether each target is met."""
    s, m, e = r["stall_ms"], r["paint_ms"], r["fix_to_paint_ms"]
    rows = [
        ("main-thread stall (ms)", s, f"p99 < {STALL_TARGET_MS:g}", r["stall_ok"]),
        ("map paint after batch (ms)", m, f"p99 < {PAINT_TARGET_MS:g}", r["paint_ok"]),
        (
            "fix published -> painted (ms)",
            e,
            f"p50 < {FIX_TO_PAINT_TARGET_MS:g}",
            r["fix_to_paint_ok"],
        ),  # fmt: skip
    ]
    print(
        f"{r['vehicles']} vehicles at 1 Hz for {r['seconds']:g} s "
        f"({r['broker']} broker; load average {r['load_avg']})"
    )
    print(f"{'':32}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}  target")
    for name, stats, target, ok in rows:
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        cells = "".join(
            f"{'-' if stats[k] is None else stats[k]:>8}" for k in ("p50", "p99", "max")
        )
        print(f"{name:32}{cells}{stats['n']:>7}  {target} {verdict}".rstrip())
    c = r["stall_cpu_ms"]
    print(
        f"{'main-thread CPU per gap (ms)':32}"
        + "".join(f"{'-' if c[k] is None else c[k]:>8}" for k in ("p50", "p99", "max"))
        + f"{c['n']:>7}  (its own work: the load adds little to it)"
    )
    print(
        f"CPU while measuring: main thread {r['main_cpu_pct']:g} % of a core, whole window "
        f"process {r['process_cpu_pct']:g} %; load average {r['load_avg_before']} before, "
        f"{r['load_avg']} after"
    )
    print(
        f"ETA and rules evaluation: {r['eval_passes']} passes, "
        f"{r['eval_cpu_ms_per_pass']} ms CPU each, {r['eval_cpu_pct']:g} % of a core "
        "(a thread sharing the interpreter lock with the main thread)"
    )
    for stall in r["longest_stalls"]:
        ran = "; ".join(f"{where} ×{n}" for where, n in stall["slots"]) or "no Python sampled"
        inner = "; ".join(f"{where} ×{n}" for where, n in stall["inner"])
        print(f"  stall {stall['wall_ms']:>7} ms (CPU {stall['cpu_ms']:>6} ms): {ran}"
              + (f"  [in {inner}]" if inner else ""))  # fmt: skip
    print(
        f"publisher: {r['published_per_s']:.0f} messages/s sent while measuring "
        f"({'kept' if r['publisher_kept_rate'] else 'did NOT keep'} its rate of "
        f"{r['vehicles']}/s)"
    )
    print(
        f"messages: {r['received_per_s']:.0f}/s received, {r['accepted_per_s']:.0f}/s accepted, "
        f"{r['moved_per_s']:.0f} vehicle moves/s applied; map flushes {r['flushes']} "
        f"(apply in page p50 {r['apply_ms']['p50']} ms); "
        f"vehicles on the map at the end: {r['vehicles_on_map']} of {r['vehicles']}"
    )


if __name__ == "__main__":
    sys.exit(main())
