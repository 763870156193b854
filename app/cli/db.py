"""``python main.py db``: the database's own checks.

db check [--repair] [--depot ID] [--day YYYY-MM-DD]   # stored days that break the invariants

With a shared PostgreSQL (``DISPATCH_DATABASE_URL``) it checks the shared database and this
workstation's local copy; otherwise the desk's own database. Exit status 0: every day
holds; 1: problems found (and, with ``--repair``, repaired); 2: the database cannot be
opened.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    chk = sub.add_parser(
        "check",
        help="report stored days that break the plan's invariants (an order on two routes, "
        "on a route and unassigned); --repair fixes them",
    )
    chk.add_argument("--repair", action="store_true", help="repair what is found, logged")
    chk.add_argument("--depot", help="only this depot (default: every depot)")
    chk.add_argument("--day", type=_day, help="only this day (default: every stored day)")


def run(args: argparse.Namespace) -> int:
    if args.db_command == "check":
        return _check(args)
    raise AssertionError(args.db_command)


def _stores() -> list[tuple[str, str]]:
    """(name, url) of every copy this workstation holds."""
    from app.secrets import database_url_with_password
    from app.settings import Settings, user_data_dir
    from app.sync.session import is_shared_url, local_copy_path

    settings = Settings.from_env()
    if not is_shared_url(settings.database_url):
        return [("database", settings.effective_database_url)]
    out = [("shared database", database_url_with_password(settings.database_url))]
    local = local_copy_path(user_data_dir(), settings.workstation_id)
    if local.exists():
        out.append((f"local copy {local.name}", f"sqlite:///{local}"))
    return out


def _check(args: argparse.Namespace) -> int:
    from app.settings import Settings
    from app.store import daycheck, open_store

    settings = Settings.from_env()
    actor = f"{settings.user}@{settings.workstation_id}"
    found = 0
    for name, url in _stores():
        try:
            store = open_store(url, workstation=settings.workstation_id)
        except Exception as exc:
            print(f"db check: cannot open the {name}: {exc}", file=sys.stderr)
            return 2
        try:
            with store.session() as s:
                if args.repair:
                    problems = daycheck.repair(s, actor, args.depot, args.day)
                else:
                    problems = daycheck.check(s, args.depot, args.day)
        finally:
            store.close()
        found += len(problems)
        if not problems:
            print(f"{name}: every day holds (each order on at most one route or unassigned)")
            continue
        verb = "repaired" if args.repair else "found"
        print(f"{name}: {len(problems)} problem{'s' if len(problems) > 1 else ''} {verb}")
        for p in problems:
            print(f"  {p.depot_id} {p.day}: {p.text} -> {p.repair}")
    if found and not args.repair:
        print("Repair with: python main.py db check --repair")
    return 1 if found else 0
