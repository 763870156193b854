"""``python -m bench.startup``: how long from launch to the stored day on screen, on a restart?

Prepares a throwaway data folder with the demo day planned and stored (one first start,
not timed unless ``--first``), then launches the workstation ``--runs`` times the way a user
does (``python main.py``, offscreen) and times each launch to the moment the day is on
screen: the plan in the window, its routes and stops drawn on the map page (the page
answered after drawing them), the timeline showing its rows. Live telemetry attaches after
and is timed too (the broker connected). Prints each run's phases, then one summary line:
median and range, the load average before and after, and whether the target (≤ 3 s) is met.

Phases (seconds since launch): ``python`` (the interpreter up, before any of the
workstation's imports), ``imports`` (Qt, the app and the window's modules), ``context``
(services built: store opened and checked), ``window`` (panes built, window shown),
``opened`` (the stored day loaded and handed to the panes), ``shown`` (plan on the map and
the timeline: the figure), ``live`` (telemetry connected).

The launches keep compiled bytecode in the throwaway folder (written by the first start),
as a user's installation keeps it: a restart does not compile the sources again, even
where the environment says not to write bytecode (``PYTHONDONTWRITEBYTECODE``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 3.0
ROOT = Path(__file__).resolve().parent.parent
_MARK = "STARTUP-BENCH "


def _child() -> int:
    """In the launched process: run the workstation as ``main.py`` does, stamping phases."""
    t0 = float(os.environ["BENCH_STARTUP_T0"])
    marks: dict[str, float] = {"python": time.time() - t0}
    cpu: dict[str, float] = {"python": time.process_time()}

    def mark(name: str) -> None:
        if name not in marks:
            marks[name] = time.time() - t0
            cpu[name] = time.process_time()

    from widgets import app_main

    app_main._prepare_environment(offscreen=True)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import widgets.map_schemes  # noqa: F401 (as run_workstation: before the QApplication)
    from app.context import AppContext
    from widgets.main_window import MainWindow

    mark("imports")
    init, start, show = AppContext.__init__, AppContext.start, MainWindow.show
    found: dict = {}

    def timed_init(self, *a, **k):
        init(self, *a, **k)
        mark("context")

    def timed_show(self):
        show(self)
        found["window"] = self
        mark("window")

    def timed_start(self, *a, **k):
        start(self, *a, **k)
        mark("opened")
        QTimer.singleShot(0, poll)

    def poll() -> None:
        window = found["window"]
        ctx = window.context
        page_state = found.get("page")
        if "shown" not in marks and (
            ctx.state.plan is not None
            and window.timeline_pane._plan is not None
            and window.map_pane.is_ready
            and not found.get("asking")
        ):
            found["asking"] = True

            def answer(raw) -> None:
                found["asking"] = False
                stats = json.loads(raw) if raw else {}
                found["page"] = stats
                if stats.get("routes") and stats.get("stops"):
                    mark("shown")

            window.map_pane.run_js("dd.stats()", answer)
        if ctx.live.connection == "connected":
            mark("live")
        if "shown" in marks and "live" in marks or time.time() - t0 > 120:
            marks["tiles_loaded"] = (page_state or {}).get("tilesLoaded")
            marks["cpu"] = cpu  # type: ignore[assignment]
            marks["plan_routes"] = len(ctx.state.plan.routes) if ctx.state.plan else 0
            print(_MARK + json.dumps(marks), flush=True)
            window.close()
            QApplication.instance().quit()
            return
        QTimer.singleShot(10, poll)

    AppContext.__init__ = timed_init  # type: ignore[method-assign]
    AppContext.start = timed_start  # type: ignore[method-assign]
    MainWindow.show = timed_show  # type: ignore[method-assign]
    return app_main.run_workstation(argparse.Namespace(screenshot=None, after=0.0, replay=None))


def launch(env: dict[str, str], timeout_s: float = 180.0) -> dict:
    """One launch of the workstation; its phases (seconds since launch)."""
    env = dict(env, BENCH_STARTUP_T0=repr(time.time()))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.startup", "--child"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    raise RuntimeError(
        f"the workstation did not report its start (exit {proc.returncode}):\n"
        + proc.stderr[-3000:]
    )


def first_start(env: dict[str, str]) -> None:
    """Seed and plan the demo day once (what a restart finds stored)."""
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--screenshot",
            os.path.join(env["DISPATCH_DATA_DIR"], "first.png"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError("the first start failed:\n" + proc.stderr[-3000:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed restarts (default 5)")
    p.add_argument("--first", action="store_true", help="also time the first start (plans)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.child:
        return _child()
    work = Path(tempfile.mkdtemp(prefix="dispatch-startup-"))
    try:
        env = dict(
            os.environ,
            DISPATCH_DATA_DIR=str(work / "data"),
            XDG_CONFIG_HOME=str(work / "config"),
            QT_QPA_PLATFORM="offscreen",
            PYTHONPATH=str(ROOT),
            PYTHONPYCACHEPREFIX=str(work / "bytecode"),
        )
        for var in ("DISPATCH_DATABASE_URL", "DISPATCH_MQTT_URL", "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        load_before = os.getloadavg()
        first = None
        if args.first:
            first = launch(env, timeout_s=600)
        else:
            first_start(env)
        # On its first start a desk over several depots asks which one it runs and keeps
        # the answer; a restart opens that one (the demo's own depot here).
        from app.simulator.demo_day import DEPOT_ID
        from app.tower.choice import remember_depot

        remember_depot(Path(env["DISPATCH_DATA_DIR"]), DEPOT_ID)
        runs = [launch(env) for _ in range(args.runs)]
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = [r["shown"] for r in runs if "shown" in r]
    shown_cpu = [r["cpu"]["shown"] for r in runs if "shown" in r.get("cpu", {})]
    live = [r["live"] for r in runs if "live" in r]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "first_start": first,
        "runs": runs,
        "shown_median_s": round(statistics.median(shown), 2) if shown else None,
        "shown_range_s": [round(min(shown), 2), round(max(shown), 2)] if shown else None,
        "shown_cpu_median_s": round(statistics.median(shown_cpu), 2) if shown_cpu else None,
        "live_median_s": round(statistics.median(live), 2) if live else None,
        "met": bool(shown) and len(shown) == len(runs) and statistics.median(shown) <= TARGET_S,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        phases = ("python", "imports", "context", "window", "opened", "shown", "live")
        print("run " + "".join(f"{p:>9}" for p in phases))
        if first is not None:
            print("1st " + "".join(f"{first.get(p, float('nan')):9.2f}" for p in phases))
        for i, r in enumerate(runs, 1):
            print(f"{i:<4}" + "".join(f"{r.get(p, float('nan')):9.2f}" for p in phases))
            cpu = r.get("cpu", {})
            print("cpu " + "".join(f"{cpu.get(p, float('nan')):9.2f}" for p in phases))
        print(
            f"restart -> stored day shown: median {result['shown_median_s']} s "
            f"(range {result['shown_range_s']}, {len(runs)} runs; main-process CPU "
            f"{result['shown_cpu_median_s']} s; live telemetry at "
            f"{result['live_median_s']} s); target <= {TARGET_S:g} s "
            f"{'met' if result['met'] else 'NOT met'}; load average "
            f"{result['load_avg_before'][0]} -> {result['load_avg_after'][0]}, "
            f"{result['machine']}, {result['when']}"
        )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
