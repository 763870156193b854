"""``main.py reliability``: run the fault drills against throwaway services, print a table.

Starts its own PostgreSQL on a free port (and local SQLite files in a temporary directory),
kills and restarts it, cuts connections, SIGKILLs a writing workstation, and counts what a
user would notice: lost edits, edits applied twice, conflicts surfaced, changes missed.
"""

from __future__ import annotations

import argparse

FULL = {"listener": 50, "restarts": 200, "cuts": 50, "kills": 50, "interleavings": 25}
QUICK = {"listener": 10, "restarts": 40, "cuts": 10, "kills": 10, "interleavings": 5}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="reduced counts (about a minute instead of several)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choices")
    parser.add_argument("--verbose", action="store_true", help="log every offline spell/conflict")


def _table(results) -> str:
    head = ("scenario", "runs", "lost", "duplicated", "overwritten", "conflicts surfaced",
            "missed", "seconds")  # fmt: skip
    rows = [head]
    for r in results:
        conflicts = f"{r.conflicts_surfaced} of {r.conflicts_expected}"
        if r.integrity_failures:
            conflicts += f" (integrity failures: {r.integrity_failures})"
        rows.append(
            (r.scenario, str(r.runs), str(r.lost), str(r.duplicated), str(r.overwritten), conflicts,
             str(r.missed), f"{r.seconds:.1f}")
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import logging
    import tempfile
    from pathlib import Path

    from app.sync.pgserver import ThrowawayPostgres, create_database, postgres_bindir
    from bench.drills.faults import drill_listener_kills
    from bench.drills.interleave import drill_interleavings
    from bench.drills.offline import (
        drill_commit_cuts,
        drill_database_restarts,
        drill_local_kills,
    )

    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    counts = QUICK if args.quick else FULL
    if postgres_bindir() is None:
        print(
            "reliability: no PostgreSQL binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin; install the postgresql package and run it again"
        )
        return 2
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
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print(
        "\nall drills passed: nothing lost, nothing applied twice or silently overwritten, every conflict surfaced"
    )
    return 0
