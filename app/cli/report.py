"""``python main.py report --day D --out report.pdf``: the day report (PDF) and a CSV of
every KPI row beside it (``--csv`` to put it elsewhere).

The day comes from the desk's database, else from the library of recorded days or a
``.dday`` file, like ``main.py kpis``.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--day", required=True, metavar="YYYY-MM-DD|FILE")
    parser.add_argument("--out", required=True, metavar="FILE", help="the PDF to write")
    parser.add_argument("--csv", metavar="FILE", help="the KPI rows (default: beside the PDF)")
    parser.add_argument("--depot", help="the depot (default: the desk's, else the only one)")
    parser.add_argument("--database", help="SQLAlchemy URL (default: the desk's database)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.kpis.report import write_report
    from app.kpis.service import compute_day, open_day, trend
    from app.settings import Settings
    from app.store import open_store

    out = Path(args.out)
    if out.is_dir():
        print(f"report: --out {out} is a folder; give a file name", file=sys.stderr)
        return 2
    if not out.parent.exists():
        print(f"report: --out {out}: the folder {out.parent} does not exist", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    try:
        store = open_store(args.database or settings.effective_database_url,
                           workstation=settings.workstation_id)  # fmt: skip
    except Exception as exc:
        print(f"report: cannot open the database: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            day = open_day(store, args.day, args.depot, settings.depot_id)
        except (LookupError, ValueError, OSError) as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 1
        try:
            result = compute_day(day.store, day.depot_id, day.day, source=day.source,
                                 as_of=day.as_of, final=day.final)  # fmt: skip
        finally:
            day.close()
        if day.store is not store:
            from app.cli.kpis import _keep

            _keep(store, result)
        history = trend(store, result.depot_id, result.day)
        try:
            files = write_report(result, out, history, args.csv)
        except OSError as exc:
            print(f"report: cannot write {exc.filename or out}: {exc.strerror or exc}",
                  file=sys.stderr)  # fmt: skip
            return 2
    finally:
        store.close()
    print(
        f"Wrote {files.pdf} ({files.pages} pages) and {files.csv} "
        f"({len(result.report.values)} KPI rows) in {files.seconds:.1f} s "
        f"(the day read and computed in {result.read_s + result.compute_s:.1f} s)"
    )
    return 0
