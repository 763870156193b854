"""``python main.py import PATH...``: validate files and store their good rows.

Exit code 0 when every row was imported, 1 when some rows were rejected, 2 when a path,
a file or the database could not be used at all.
"""

from __future__ import annotations

import argparse
from datetime import date

from app.importer.fields import DateFormat


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _date_format(text: str) -> DateFormat:
    try:
        return DateFormat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="files (depots/vehicles/drivers/orders .csv or .json) or folders holding them",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="the day HH:MM times fall on (default: the day named in the files, else today)",
    )
    parser.add_argument(
        "--date-format",
        type=_date_format,
        metavar="FORMAT",
        help="how times with a date are written, e.g. dd/mm/yyyy for '24/11/2026 09:00' "
        "(the depot's local time); ISO 8601 and HH:MM are always read",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="the files' encoding, e.g. cp1252 (default: UTF-8, else Windows-1252 or Latin-1, "
        "detected and reported)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL of the database (default: DISPATCH_DATABASE_URL, else the "
        "SQLite file in the user data directory)",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from app.importer.persist import import_sources, safe_url
    from app.importer.reading import ReadOptions, collect_sources
    from app.settings import Settings

    settings = Settings.from_env()
    url = args.database or settings.effective_database_url
    try:
        sources = collect_sources(args.paths)
    except OSError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print(f"import: no .csv or .json files in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    from app.cli.who import identity, supervisor_only
    from app.store import open_store

    who = identity(settings, url)
    if not supervisor_only(who, "import"):
        return 1
    try:
        store = open_store(url)
    except Exception as exc:  # any driver error: say which database and why
        print(f"import: cannot open the database {safe_url(url)}: {exc}", file=sys.stderr)
        return 2
    try:
        options = ReadOptions(encoding=args.encoding, date_format=args.date_format)
        report = import_sources(
            sources, store, day=args.day, actor=f"import:{who.user}", options=options
        )
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.render())
    return report.exit_code
