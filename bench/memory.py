"""``python -m bench.memory``: does the window's memory stay flat over a live day?

Runs the real window offscreen over a synthetic fleet of ``--vehicles`` vans (default
2,000) publishing 1 Hz fixes and stop events through a private broker, as
``bench.responsiveness`` does, for ``--minutes`` (default 60), and samples every
``--every`` seconds (default 60): the window process's RSS, its web page processes' RSS
(QtWebEngine's renderer and GPU processes), the memory blocks Python's allocator has
handed out (``sys.getallocatedblocks``: objects and their buffers), messages received
so far, and the work waiting (messages not yet taken by the window, rows not yet stored by
the telemetry writer: a backlog holds memory while it waits). (Not ``gc.get_objects()``: its list holds tuples other threads are still filling,
and their ``tuple(...)`` then fails with "SystemError: bad argument to internal
function", as the release thread's plan loading did in an hour's run.) Prints the
series, then one summary line: start / peak / end RSS, the growth over the second half
(MB per hour), the load average and whether the goal (≤ 600 MB for the window process)
held.

Each sample also splits the window's RSS (Linux, ``/proc/self/status``): ``anon`` is its
own memory (Python's objects, the C heap, arrays); ``files`` the pages of the libraries
and files it maps, and memory shared with its page processes. The second part is mostly
Qt's and QtWebEngine's libraries and depends on the machine as well as on the program
(which of their pages the kernel has mapped in): 268-288 MB for the window over 10 vans
on one machine, some 210 MB on another.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack

GOAL_MB = 600.0


def _rss_mb(process) -> float:
    try:
        return process.memory_info().rss / 2**20
    except Exception:  # a child that just went
        return 0.0


def _split_mb() -> tuple[float | None, float | None]:
    """(anonymous, file-backed and shared) resident MB of this process; None off Linux."""
    fields: dict[str, float] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("RssAnon", "RssFile", "RssShmem"):
                    fields[name] = float(value.split()[0]) / 1024
    except OSError:
        return None, None
    if "RssAnon" not in fields:
        return None, None
    return round(fields["RssAnon"], 1), round(
        fields.get("RssFile", 0) + fields.get("RssShmem", 0), 1
    )


def _not_ready(window, context, publisher_ready) -> list[str]:
    """What the window still lacks before sampling may start (empty: ready)."""
    missing = []
    if not window.map_pane.is_ready:
        missing.append("the map page has not loaded")
    if context.state.plan is None:
        missing.append("no plan shown")
    if context.live.connection != "connected":
        missing.append(f"telemetry {context.live.connection}")
    if not publisher_ready.is_set():
        missing.append("the fleet's publisher is not connected")
    return missing


def run(args, url: str, workdir: str, stack: ExitStack) -> dict:
    import psutil

    from bench.responsiveness import _spin, _wait_until, open_fleet_window

    fw = open_fleet_window(url, workdir, stack, vehicles=args.vehicles, seed=args.seed,
                           stops=args.stops, seconds=args.minutes * 60 + 30, seed_apart=True)  # fmt: skip
    app, context, window, ready, go, sent = (
        fw.app, fw.context, fw.window, fw.ready, fw.go, fw.sent
    )  # fmt: skip
    if not _wait_until(lambda: not _not_ready(window, context, ready), 240):
        # A window without its day shown (or not yet listening) holds far less than the
        # window the goal is about: its figures would say "met" of a different window.
        missing = "; ".join(_not_ready(window, context, ready))
        raise SystemExit(f"bench.memory: after 240 s the window is not ready ({missing}); "
                         "nothing measured")  # fmt: skip
    plan = context.state.plan
    shown = (len(plan.routes), sum(len(r.stops) for r in plan.routes))
    me = psutil.Process()
    go.set()
    series = []
    t0 = time.monotonic()
    service = context.live.service
    ingest = service.ingest if service is not None else None
    writer = service.writer if service is not None else None
    while True:
        elapsed = time.monotonic() - t0
        children = [p for p in me.children(recursive=True) if "QtWebEngine" in p.name()]
        anon, files = _split_mb()
        row = {
            "minute": round(elapsed / 60, 2),
            "rss_mb": round(_rss_mb(me), 1),
            "anon_mb": anon,
            "files_mb": files,
            "page_mb": round(sum(_rss_mb(p) for p in children), 1),
            "py_blocks": sys.getallocatedblocks(),
            "received": ingest.received if ingest is not None else 0,
            # Work waiting, which holds memory while it waits: decoded messages the window
            # has not taken yet, and rows the telemetry writer has not stored yet.
            "unread": ingest.pending() if ingest is not None else 0,
            "unwritten": writer.pending() if writer is not None else 0,
            "load": round(os.getloadavg()[0], 2),
        }
        series.append(row)
        if not args.json:
            print(
                f"{row['minute']:7.1f} min  window {row['rss_mb']:7.1f} MB (anon "
                f"{row['anon_mb']}, files {row['files_mb']})  page "
                f"{row['page_mb']:7.1f} MB  blocks {row['py_blocks']:>10,}  "
                f"messages {row['received']:>10,} (waiting {row['unread']:,}, unwritten "
                f"{row['unwritten']:,})  load {row['load']}",
                flush=True,
            )
        if elapsed >= args.minutes * 60:
            break
        _spin(int(min(args.every, args.minutes * 60 - elapsed + 0.5) * 1000))
    app.processEvents()
    rss = [r["rss_mb"] for r in series]
    half = [r for r in series if r["minute"] >= args.minutes / 2]
    slope = 0.0
    if len(half) >= 2 and half[-1]["minute"] > half[0]["minute"]:
        slope = (half[-1]["rss_mb"] - half[0]["rss_mb"]) / (half[-1]["minute"] - half[0]["minute"])
    return {
        "vehicles": args.vehicles,
        "minutes": args.minutes,
        "published": sent.value,
        "series": series,
        "routes_shown": shown[0],
        "stops_shown": shown[1],
        "rss_start_mb": rss[0],
        "rss_peak_mb": max(rss),
        "rss_end_mb": rss[-1],
        "anon_end_mb": series[-1]["anon_mb"],
        "files_end_mb": series[-1]["files_mb"],
        "growth_second_half_mb_per_h": round(slope * 60, 1),
        "goal_met": max(rss) <= GOAL_MB,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000, help="fleet size (default 2000)")
    p.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    p.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    p.add_argument("--stops", type=int, default=2, help="stops per vehicle (default 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.vehicles < 1 or args.minutes <= 0 or args.every <= 0:
        p.error("--vehicles, --minutes and --every must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bench.responsiveness import start_broker

    load_before = os.getloadavg()
    with ExitStack() as stack:
        workdir = tempfile.mkdtemp(prefix="dispatch-memory-")
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        url, kind = start_broker(stack, workdir)
        result = run(args, url, workdir, stack)
        result["broker"] = kind
    result["load_avg_before"] = [round(x, 2) for x in load_before]
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['vehicles']} vehicles for {result['minutes']:g} min (day shown: "
            f"{result['routes_shown']:,} routes, {result['stops_shown']:,} stops): window RSS "
            f"{result['rss_start_mb']} -> peak {result['rss_peak_mb']} -> end "
            f"{result['rss_end_mb']} MB (at the end anon {result['anon_end_mb']}, files "
            f"{result['files_end_mb']}), second half {result['growth_second_half_mb_per_h']:+} "
            f"MB/h; goal <= {GOAL_MB:g} MB {'met' if result['goal_met'] else 'NOT met'}; "
            f"load average {result['load_avg_before'][0]} -> {result['load_avg_after'][0]}, "
            f"{os.cpu_count()} cores, {result['when']}"
        )
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
