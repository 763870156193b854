"""``main.py reliability``: run the drills against throwaway services, print what they counted.

The fault drills start their own PostgreSQL on a free port (and local SQLite files in a
temporary directory), kill and restart it, cut connections, SIGKILL a writing workstation,
and count what a user would notice: lost edits, edits applied twice, conflicts surfaced,
changes missed. The hostile traffic drill starts its own Mosquitto and sends the
workstation's telemetry service a 2,000-vehicle stream with attacks woven in, and counts
messages tried, rejected by reason, wrongly applied (must be 0) and writer stalls (0).
The forged desk drill connects to a throwaway PostgreSQL as a dispatcher's database user and
sends forged and forbidden commands and direct writes: tried, applied (must be 0), refused
by the database's reason.
"""

from __future__ import annotations

import argparse

FULL = {"listener": 50, "restarts": 200, "cuts": 50, "kills": 50, "interleavings": 25,
        "starts": 5}  # fmt: skip
QUICK = {"listener": 10, "restarts": 40, "cuts": 10, "kills": 10, "interleavings": 5,
         "starts": 2}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="reduced counts (about a minute instead of several)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choices")
    parser.add_argument("--verbose", action="store_true", help="log every offline spell/conflict")
    parser.add_argument(
        "--only",
        choices=("faults", "hostile", "forged"),
        help="run only the database fault drills, the hostile traffic drill, or the forged "
        "desk drill",
    )


def _table(results) -> str:
    head = ("scenario", "runs", "lost", "duplicated", "overwritten", "conflicts surfaced",
            "missed", "invariant violations", "stuck commands", "seconds")  # fmt: skip
    rows = [head]
    for r in results:
        conflicts = f"{r.conflicts_surfaced} of {r.conflicts_expected}"
        if r.integrity_failures:
            conflicts += f" (integrity failures: {r.integrity_failures})"
        rows.append(
            (r.scenario, str(r.runs), str(r.lost), str(r.duplicated), str(r.overwritten), conflicts,
             str(r.missed), str(r.invariant_violations), str(r.stuck), f"{r.seconds:.1f}")
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    failed = []
    if args.only in (None, "faults"):
        failed += _run_faults(args)
    if args.only in (None, "forged"):
        failed += _run_forged()
    if args.only in (None, "hostile"):
        failed += _run_hostile(args)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    return 0


def _run_hostile(args: argparse.Namespace) -> list[str]:
    import os
    import shutil

    from bench.drills.hostile import drill_hostile_traffic

    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        print("\nhostile traffic: mosquitto is not installed; install it and run again")
        return ["hostile traffic (no mosquitto)"]
    seconds = 10 if args.quick else 20
    print(f"\nhostile traffic: 2,000 vehicles, {seconds} s of their fixes and stop events ...")
    result = drill_hostile_traffic(2000, seconds, args.seed)
    print()
    print(result.table())
    if not result.ok:
        return ["hostile traffic"]
    print(
        "\nhostile traffic: every attack refused and counted, nothing wrongly applied, no real "
        "tracker locked out, the writer never stalled"
    )
    return []


def _run_forged() -> list[str]:
    from app.sync.pgserver import ThrowawayPostgres, create_database, postgres_bindir
    from bench.drills.forged import drill_forged_desk

    if postgres_bindir() is None:
        print("\nforged desk: no PostgreSQL binaries; install the postgresql package")
        return ["forged desk (no PostgreSQL)"]
    print("\nforged desk: a dispatcher's database user attacks the shared database ...")
    with ThrowawayPostgres() as server:
        create_database(server.url, "forged")
        result = drill_forged_desk(server.database_url("forged"))
    print()
    print(result.table())
    if not result.ok:
        return ["forged desk"]
    print("\nforged desk: every forged or forbidden command refused by the database, nothing "
          "applied; the legitimate commands of both roles went through")  # fmt: skip
    return []


def _run_faults(args: argparse.Namespace) -> list[str]:
    import tempfile
    from pathlib import Path

    from app.sync.pgserver import ThrowawayPostgres, create_database, postgres_bindir
    from bench.drills.faults import drill_listener_kills
    from bench.drills.interleave import drill_concurrent_starts, drill_interleavings
    from bench.drills.offline import (
        drill_commit_cuts,
        drill_database_restarts,
        drill_local_kills,
    )

    counts = QUICK if args.quick else FULL
    if postgres_bindir() is None:
        print(
            "reliability: no PostgreSQL binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin; install the postgresql package and run it again"
        )
        return ["database faults (no PostgreSQL)"]
    results = []
    with tempfile.TemporaryDirectory(prefix="dispatch-reliability-") as tmp:
        work = Path(tmp)
        with ThrowawayPostgres() as server:
            print(f"PostgreSQL started on 127.0.0.1:{server.port}; running the drills ...")

            def database(name: str) -> str:
                create_database(server.url, name)
                return server.database_url(name)

            (work / "cuts").mkdir()
            (work / "restarts").mkdir()
            (work / "kills").mkdir()
            steps = [
                lambda: drill_listener_kills(database("listener"), kills=counts["listener"]),
                lambda: drill_commit_cuts(database("cuts"), work / "cuts", cuts=counts["cuts"]),
                lambda: drill_interleavings(
                    database("interleave"),
                    work / "interleave",
                    runs=counts["interleavings"],
                    seed=args.seed,
                ),  # fmt: skip
                lambda: drill_local_kills(work / "kills", kills=counts["kills"], seed=args.seed),
                lambda: drill_concurrent_starts(
                    lambda n: database(f"start{n}"), runs=counts["starts"], desks=4
                ),
                lambda: drill_database_restarts(
                    server,
                    work / "restarts",
                    edits=counts["restarts"],
                    seed=args.seed,
                    outages=5 if counts["restarts"] >= 100 else 2,
                ),  # fmt: skip
            ]
            for step in steps:
                result = step()
                results.append(result)
                print(f"  {result.scenario}: {'ok' if result.ok else 'FAILED'}", flush=True)
    print()
    print(_table(results))
    failed = [r.scenario for r in results if not r.ok]
    if not failed:
        print(
            "\nall fault drills passed: nothing lost, nothing applied twice or silently "
            "overwritten, every conflict surfaced, no invariant broken on any copy, no "
            "command stuck"
        )
    return failed
