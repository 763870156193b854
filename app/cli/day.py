"""``python main.py day``: a day's recording as one file — export, import, list.

day export --day D [--depot X] --out FILE   # from this desk's database
day import FILE [--replace]                  # into this desk's library (checked first)
day list                                     # the recorded days in the library
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
    sub = parser.add_subparsers(dest="day_command", metavar="ACTION", required=True)
    exp = sub.add_parser("export", help="write a day of this desk's database as one file")
    exp.add_argument("--day", type=_day, required=True, metavar="YYYY-MM-DD")
    exp.add_argument("--depot", help="the depot (default: the desk's, else the only one)")
    exp.add_argument("--out", required=True, metavar="FILE", help="the file to write (.dday)")
    imp = sub.add_parser("import", help="check a recorded day from another desk and keep it")
    imp.add_argument("file")
    imp.add_argument("--replace", action="store_true", help="overwrite the library's copy")
    sub.add_parser("list", help="the recorded days in this desk's library")


def run(args: argparse.Namespace) -> int:
    if args.day_command == "export":
        return _export(args)
    if args.day_command == "import":
        return _import(args)
    return _list()


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.settings import Settings
    from app.store import open_store
    from app.store.day_export import export_day
    from app.store.repository import list_depots

    settings = Settings.from_env()
    out = Path(args.out)
    if out.is_dir():
        print(f"day export: --out {out} is a folder; give a file name", file=sys.stderr)
        return 2
    try:
        store = open_store(settings.effective_database_url, workstation=settings.workstation_id)
    except Exception as exc:
        print(f"day export: cannot open the database: {exc}", file=sys.stderr)
        return 2
    try:
        with store.read_session() as s:
            depots = [d.id for d in list_depots(s)]
            depot = args.depot or (settings.depot_id if settings.depot_id in depots else None)
            if depot is None and len(depots) == 1:
                depot = depots[0]
            if depot not in depots:
                print(f"day export: depot {depot or '?'} not in the database (it has: "
                      f"{', '.join(depots) or 'none'}); give --depot", file=sys.stderr)  # fmt: skip
                return 2
            actor = f"{settings.user}@{settings.workstation_id}"
            counts = export_day(s, depot, args.day, out, workstation=settings.workstation_id,
                                actor=actor)  # fmt: skip
    except LookupError as exc:
        print(f"day export: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"day export: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"Wrote {out}: " + ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in counts.items()))
    return 0


def _import(args: argparse.Namespace) -> int:
    from app.recorder.library import import_file
    from app.store.dayfile import DayFileError

    try:
        path, summary = import_file(args.file, replace=args.replace)
    except (DayFileError, FileExistsError, OSError) as exc:
        print(f"day import: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in summary.counts.items() if n)
    print(f"Imported {summary.depot_id} {summary.day} ({summary.source or 'recorded'}): {counts}")
    print(f"  {path}")
    print(f"Replay it: python main.py --replay {summary.day}   "
          f"Dry-run rules on it: python main.py rules dry-run --day {summary.day}")  # fmt: skip
    return 0


def _list() -> int:
    from app.recorder.library import library_dir, list_days

    entries = list_days()
    if not entries:
        print(f"No recorded day in {library_dir()}")
        return 0
    for e in entries:
        s = e.summary
        print(f"{s.day}  {s.depot_id:10} {s.source or 'recorded':12} {s.counts.get('fixes', 0):>9} "
              f"fixes {s.counts.get('exceptions', 0):>5} exceptions  {e.path.name}")  # fmt: skip
    return 0
