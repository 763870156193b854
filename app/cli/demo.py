"""``python main.py demo``: write the demo day in the import format, or record it headless.

``--out DIR`` writes the day's CSV files. ``--record`` plans the day and drives the
digital twin through it, with the rules watching (in their own modes: the shipped rules
only record what they would do), and files the recorded day in the library for replay
and dry runs — a dry run can start from a fresh install.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--day {text!r}: expected YYYY-MM-DD") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="seed of the day (default: 7)")
    parser.add_argument("--out", metavar="DIR", help="folder to write the CSV files into")
    parser.add_argument(
        "--day",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day to generate (default: today in America/Denver)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="drive the whole day headless with the digital twin and keep it as a recorded "
        "day (for replay and `rules dry-run`)",
    )
    parser.add_argument(
        "--trouble",
        default="default",
        help="with --record: the day's trouble, e.g. 'breakdown=2,late_orders=6' or 'none'",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="with --record: the rules watching the day (default: the shipped rule set)",
    )
    parser.add_argument(
        "--acting",
        action="store_true",
        help="with --record: let every enabled rule act (default: each rule in its own mode)",
    )
    parser.add_argument(
        "--to", metavar="FILE", help="with --record: write the recorded day here, not the library"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.simulator.demo_day import demo_today, generate_demo_day, write_demo_day

    if not args.out and not args.record:
        print("demo: give --out DIR (the import files) and/or --record (a recorded day)")
        return 2
    day = args.day or demo_today()
    day_input = generate_demo_day(args.seed, day)
    depot = day_input.depots[0]
    print(
        f"Demo day {day} (seed {args.seed}) at {depot.name}: {len(day_input.vehicles)} vehicles, "
        f"{len(day_input.drivers)} drivers, {len(day_input.orders)} orders"
    )
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            print(f"demo: --out {out} exists and is not a folder")
            return 2
        try:
            files = write_demo_day(day_input, out)
        except OSError as exc:
            print(f"demo: cannot write to {out}: {exc}")
            return 2
        for path in files:
            print(f"  {path}")
        print(f"Import it with: python main.py import {out}")
    if args.record:
        return _record(args, day)
    return 0


def _record(args: argparse.Namespace, day: date) -> int:
    import time
    from pathlib import Path

    from app.recorder.library import path_for
    from app.rules.dayrun import DayRun
    from app.rules.dryrun import DaySource, default_rules, load_rule_file
    from app.simulator.trouble import TroubleSpec
    from app.store.dayfile import DayFileWriter

    try:
        trouble = TroubleSpec.parse(args.trouble)
        rules = load_rule_file(args.rules) if args.rules else default_rules()
    except ValueError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    print("Planning the day…", flush=True)
    source = DaySource.demo(args.seed, day, trouble)
    target = Path(args.to) if args.to else path_for(source.plan.depot_id, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"depot_id": source.plan.depot_id, "day": day.isoformat(),
            "timezone": source.day.depot(source.plan.depot_id).timezone, "source": "twin",
            "recorded_by": "main.py demo --record"}  # fmt: skip
    writer = DayFileWriter(target, meta)
    print(f"Driving the day with the digital twin (trouble: {trouble.text()})…", flush=True)
    try:
        result = DayRun(source.day, source.plan, seed=args.seed, rules=rules, trouble=trouble,
                        rate_hz=0.2, recorder=writer, honour_modes=not args.acting).run()  # fmt: skip
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    print(
        f"Recorded {day} in {time.perf_counter() - started:.0f} s: {result.orders} orders, "
        f"{result.late_stops} late, {result.exceptions} exceptions, {result.firings} rule firings"
    )
    print(f"  {path}")
    print(f"Replay it in the window (File ▸ Open recorded day…) or dry-run rules on it: "
          f"python main.py rules dry-run --day {day}")  # fmt: skip
    return 0
