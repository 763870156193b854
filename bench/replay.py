"""``python -m bench.replay``: scrubbing a recorded day of many vehicles.

Records a synthetic day of ``--vehicles`` vehicles (default 2,000) with the digital twin
(a fix a minute per vehicle, the day's trouble, the live exceptions), unless ``--day FILE``
is given; opens it as the window does; then jumps to ``--jumps`` random minutes of the
day and times each: the day as it was (plan, positions, stop states, exceptions) and, with
``--window``, the real window offscreen taking it (map, timeline, exceptions, rules,
status bar) until its event queue is empty, in wall time and in the process's CPU time
(the figure a busy shared machine does not inflate), and the CPU time the web page's
processes (QtWebEngine's renderer) spend on the jump, taken after a settle of
``--settle`` seconds (they draw after the window has handed the page its batch, and on two
cores their work delays the next paint), and how much of the jump the garbage collector's
passes took. ``--profile PREFIX`` writes a cProfile of the main thread through each jump.
Target: any minute in ≤ 1 s. Prints
the peak resident memory of the process (after recording, and at the end) and the load
average.
Run it under a memory cap on a shared machine, e.g. ``prlimit --as=6000000000``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def record(vehicles: int, path: Path) -> float:
    from app.rules.dayrun import DayRun
    from app.simulator import sweep_plan, synthetic_day
    from app.store.dayfile import DayFileWriter
    from engine.travel import HaversineTravelModel

    day = synthetic_day(vehicles, seed=5, day=date(2026, 12, 7))
    plan = sweep_plan(day)
    started = time.perf_counter()
    writer = DayFileWriter(path, {"depot_id": "SIM", "day": "2026-12-07", "timezone": "UTC",
                                  "source": "twin"})  # fmt: skip
    DayRun(day, plan, seed=5, travel=HaversineTravelModel(), rate_hz=1 / 60, step_s=60,
           eval_s=300, recorder=writer).run()  # fmt: skip
    writer.close()
    return time.perf_counter() - started


def children_cpu_s() -> float:
    """CPU seconds used so far by this process's descendants (QtWebEngine's processes),
    from ``/proc`` (Linux); 0 where it cannot be read."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0, [os.getpid()]
    while pending:
        pid = pending.pop()
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pending.extend(int(c) for c in f.read().split())
        except OSError:
            continue
        if pid != os.getpid():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
    return total / tick


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument("--day", help="a recorded day to use instead of recording one")
    p.add_argument("--jumps", type=int, default=30)
    p.add_argument("--window", action="store_true", help="also time the real window (offscreen)")
    p.add_argument(
        "--settle",
        type=float,
        default=1.5,
        help="seconds after each jump to let the page draw (renderer CPU)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--profile",
        metavar="PREFIX",
        help="with --window: cProfile the main thread through each jump, written to "
        "PREFIX-<n>-<HHMM>.prof (slower: read its shares, not its times)",
    )
    args = p.parse_args(argv)
    out: dict = {"load_before": round(os.getloadavg()[0], 1)}
    if args.day:
        path = Path(args.day)
    else:
        path = Path(tempfile.mkdtemp(prefix="bench-replay-")) / "day.dday"
        out["record_s"] = round(record(args.vehicles, path), 1)
        out["record_peak_rss_mb"] = peak_rss_mb()
        out["day_file"] = str(path)
    from app.recorder.replay import DayReplay

    started = time.perf_counter()
    replay = DayReplay.open(path)
    out["open_s"] = round(time.perf_counter() - started, 2)
    out["vehicles"] = len(replay.tracks)
    out["fixes"] = int(sum(len(t.ts) for t in replay.tracks.values()))
    rnd = random.Random(1)
    minutes = [replay.start + rnd.random() * (replay.end - replay.start) for _ in range(args.jumps)]
    took, cpu = [], []
    for t in minutes:
        started, used = time.perf_counter(), time.process_time()
        replay.at(t)
        took.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    out["model_p50_s"] = round(statistics.median(took), 3)
    out["model_max_s"] = round(max(took), 3)
    out["model_cpu_p50_s"] = round(statistics.median(cpu), 3)
    if args.window:
        out.update(_window(path, minutes, replay.local, args.settle, args.profile))
    out["peak_rss_mb"] = peak_rss_mb()
    out["load_after"] = round(os.getloadavg()[0], 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        if "record_s" in out:
            print(f"recorded in {out['record_s']} s (peak RSS {out['record_peak_rss_mb']:.0f} MB): "
                  f"{out['day_file']}")  # fmt: skip
        print(f"{out['vehicles']} vehicles, {out['fixes']:,} fixes; opened in {out['open_s']} s")
        print(f"a minute of the day: p50 {out['model_p50_s']} s, max {out['model_max_s']} s "
              f"(CPU p50 {out['model_cpu_p50_s']} s)")  # fmt: skip
        if args.window:
            print(
                f"in the window (offscreen, until painted): p50 {out['window_p50_s']} s, "
                f"max {out['window_max_s']} s (target ≤ 1 s: "
                f"{'met' if out['window_max_s'] <= 1.0 else 'NOT met'}); CPU time of the "
                f"process p50 {out['window_cpu_p50_s']} s, max {out['window_cpu_max_s']} s; "
                f"of the page's renderer p50 {out['renderer_cpu_p50_s']} s, "
                f"max {out['renderer_cpu_max_s']} s"
            )
            print(
                "each jump (minute of the day, wall s, CPU s, renderer CPU s, of it the "
                "collector's s): "
                + ", ".join(f"{m} {w} / {c} / {r} / {g}" for m, w, c, r, g in out["window_jumps"])
            )
        print(f"peak RSS {out['peak_rss_mb']:.0f} MB; "
              f"load average {out['load_before']} → {out['load_after']}")  # fmt: skip
    return 0


def _window(path: Path, minutes, local, settle_s: float, profile: str | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from dataclasses import replace

    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    import widgets.map_schemes  # noqa: F401
    from app.context import AppContext
    from app.settings import Settings
    from widgets.main_window import MainWindow
    from widgets.replay_bar import open_replay

    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = tempfile.mkdtemp(prefix="bench-replay-db-")
    settings = replace(Settings.from_env(), simulate=False, demo=False, mqtt_url="",
                       database_url=f"sqlite:///{scratch}/r.sqlite3")  # fmt: skip
    window = MainWindow(AppContext(settings, headless=True))
    window.show()
    player = open_replay(window, path)
    end = time.monotonic() + 20
    while time.monotonic() < end:  # let the page load once
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    took, cpu, drawn, collected = [], [], [], []
    gc_s = [0.0]
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict) -> None:  # the collector's passes, timed
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_s[0] += time.perf_counter() - gc_started[0]

    gc.callbacks.append(on_gc)
    for n, t in enumerate(minutes):
        profiler = cProfile.Profile() if profile else None
        gc_s[0] = 0.0
        started, used, renderer = time.perf_counter(), time.process_time(), children_cpu_s()
        if profiler is not None:
            profiler.enable()
        player.seek(t)
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
        took.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        collected.append(gc_s[0])
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{profile}-{n}-{local(t):%H%M}.prof")
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        drawn.append(children_cpu_s() - renderer)
    gc.callbacks.remove(on_gc)
    window.close()
    jumps = [
        [f"{local(t):%H:%M}", round(w, 3), round(c, 3), round(r, 2), round(g, 3)]
        for t, w, c, r, g in zip(minutes, took, cpu, drawn, collected, strict=True)
    ]
    return {"window_jumps": jumps,"window_p50_s": round(statistics.median(took), 3), "window_max_s": round(max(took), 3),
            "window_cpu_p50_s": round(statistics.median(cpu), 3),
            "window_cpu_max_s": round(max(cpu), 3),
            "renderer_cpu_p50_s": round(statistics.median(drawn), 2),
            "renderer_cpu_max_s": round(max(drawn), 2)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
