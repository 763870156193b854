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
    parser.add_argument(
        "--roads",
        metavar="NAME",
        help="build the day on this street network (`main.py roads list`) instead of the "
        "shipped city, with its own depot, time zone and street names",
    )
    parser.add_argument(
        "--depot",
        metavar="LAT,LON",
        help="with --roads: the depot near here (default: the network's middle)",
    )
    parser.add_argument(
        "--timezone",
        metavar="TZ",
        help="with --roads: the depot's IANA time zone, e.g. "
        "Europe/Brussels (default: guessed from the longitude, a fixed UTC offset)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.simulator.demo_day import demo_today, generate_demo_day, write_demo_day

    if not args.out and not args.record:
        print("demo: give --out DIR (the import files) and/or --record (a recorded day)")
        return 2
    network = None
    if args.roads:
        try:
            site, network, day = _site(args)
        except ValueError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        day_input = generate_demo_day(args.seed, day, network, site=site)
    else:
        if args.depot or args.timezone:
            print("demo: --depot and --timezone go with --roads NAME", file=sys.stderr)
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
        return _record(args, day, day_input if args.roads else None, network)
    return 0


def _site(args: argparse.Namespace):
    """(site, network, day) for ``--roads NAME [--depot LAT,LON] [--timezone TZ]``."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.roads.library import find_network, open_network
    from app.settings import user_data_dir
    from app.simulator.demo_day import site_for_network

    try:
        entry = find_network(user_data_dir(), args.roads)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from exc
    network = open_network(entry.path)
    near = None
    if args.depot:
        try:
            lat, lon = (float(v) for v in args.depot.split(","))
        except ValueError as exc:
            raise ValueError(f"--depot {args.depot!r}: expected LAT,LON in degrees") from exc
        if not entry.contains(lat, lon, margin_deg=0.01):
            box = network.bounds
            raise ValueError(
                f"--depot {lat},{lon} lies outside network {entry.name!r} "
                f"(S,W,N,E {box.south:.4f},{box.west:.4f},{box.north:.4f},{box.east:.4f})"
            )
        near = (lat, lon)
    zone = args.timezone
    if zone is None:
        lon_mid = (network.bounds.west + network.bounds.east) / 2
        hours = round(lon_mid / 15)
        zone = "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"
        print(f"Time zone {zone} guessed from the longitude (no daylight saving); give "
              "--timezone (e.g. Europe/Brussels) for the real one")  # fmt: skip
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"--timezone {zone!r} is not an IANA time zone name") from exc
    day = args.day or datetime.now(tz).date()
    site = site_for_network(entry.name, entry.path, network, near=near, timezone=zone)
    return site, network, day


def _record(args: argparse.Namespace, day: date, day_input=None, network=None) -> int:
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
    if day_input is None:
        source = DaySource.demo(args.seed, day, trouble)
    else:  # a day on another network: planned on its streets, driven on them
        from app.travel.choose import choose
        from engine import planning

        choice = choose(day_input.depots[0])
        if choice.warning:
            print(f"demo: {choice.warning}", file=sys.stderr)
        plan = planning.plan(day_input, choice.model, depot_id=day_input.depots[0].id,
                             time_limit_s=600, iterations=100)  # fmt: skip
        source = DaySource(day_input, plan, args.seed, trouble,
                           label=f"demo seed {args.seed} {day} on {args.roads}")  # fmt: skip
    target = Path(args.to) if args.to else path_for(source.plan.depot_id, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {"depot_id": source.plan.depot_id, "day": day.isoformat(),
            "timezone": source.day.depot(source.plan.depot_id).timezone, "source": "twin",
            "recorded_by": "main.py demo --record"}  # fmt: skip
    writer = DayFileWriter(target, meta)
    print(f"Driving the day with the digital twin (trouble: {trouble.text()})…", flush=True)
    try:
        result = DayRun(source.day, source.plan, seed=args.seed, rules=rules, trouble=trouble,
                        rate_hz=0.2, recorder=writer, honour_modes=not args.acting,
                        network=network, streets=True if network is not None else None,
                        ).run()  # fmt: skip
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
