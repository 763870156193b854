"""``python main.py demo``: write the demo day in the import format."""

from __future__ import annotations

import argparse
from datetime import date


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--day {text!r}: expected YYYY-MM-DD") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="seed of the day (default: 7)")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="folder to write the CSV files into"
    )
    parser.add_argument(
        "--day",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="the day to generate (default: today in America/Denver)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.simulator.demo_day import demo_today, generate_demo_day, write_demo_day

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"demo: --out {out} exists and is not a folder")
        return 2
    day = args.day or demo_today()
    day_input = generate_demo_day(args.seed, day)
    try:
        files = write_demo_day(day_input, out)
    except OSError as exc:
        print(f"demo: cannot write to {out}: {exc}")
        return 2
    depot = day_input.depots[0]
    print(
        f"Demo day {day} (seed {args.seed}) at {depot.name}: {len(day_input.vehicles)} vehicles, "
        f"{len(day_input.drivers)} drivers, {len(day_input.orders)} orders"
    )
    for path in files:
        print(f"  {path}")
    print(f"Import it with: python main.py import {out}")
    return 0
