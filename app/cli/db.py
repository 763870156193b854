"""``python main.py db``: the database's own checks, and the administrator's upgrade.

db upgrade [--database URL]                            # migrate to this version's schema
db status [--database URL]                             # schema revision, who is connected as what
db check [--repair] [--depot ID] [--day YYYY-MM-DD]   # stored days that break the invariants

``db upgrade`` migrates the database to this version's schema: on PostgreSQL it also
creates the roles (``dispatch_owner``, ``dispatch_dispatcher``, ``dispatch_supervisor``),
the command checks and the grants (see ``app.store.roles``). Run it as an administrator
(a superuser, or a role with CREATEROLE that may own the schema) before desks of the new
version start; desks on PostgreSQL never migrate the shared database themselves.

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
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL, connecting as the administrator (default: "
        "DISPATCH_DATABASE_URL with its password from the keyring, else the SQLite file "
        "in the user data directory)",
    )
    sub.add_parser("upgrade", parents=[common], help="migrate to this version's schema "
                   "(PostgreSQL: roles, checks, grants); the administrator's")  # fmt: skip
    sub.add_parser("status", parents=[common], help="schema revision and the connected role")


def run(args: argparse.Namespace) -> int:
    if args.db_command == "check":
        return _check(args)
    return _upgrade_or_status(args)


def admin_url(args: argparse.Namespace) -> str:
    from app.secrets import database_url_with_password
    from app.settings import Settings

    settings = Settings.from_env()
    return database_url_with_password(args.database or settings.effective_database_url)


def _upgrade_or_status(args: argparse.Namespace) -> int:
    from app.importer.persist import safe_url
    from app.store import SchemaError
    from app.store.database import create_store_engine
    from app.store.migrate import current_revision, head_revision, upgrade
    from app.store.roles import whoami

    url = admin_url(args)
    try:
        engine = create_store_engine(url)
    except ValueError as exc:
        print(f"db: {exc}", file=sys.stderr)
        return 2
    try:
        before = current_revision(engine)
        if args.db_command == "upgrade":
            after = upgrade(engine)
            print(f"{safe_url(url)}: schema {before or 'empty'} -> {after}"
                  if before != after else f"{safe_url(url)}: schema already at {after}")  # fmt: skip
        else:
            print(f"{safe_url(url)}: schema {before or 'empty'} (this version: {head_revision()})")
        if engine.dialect.name == "sqlite":
            print("SQLite: the role comes from each user's profile (main.py users role)")
        else:
            user, role = whoami(engine)
            print(f"connected as {user}: {role or 'neither dispatcher nor supervisor'}")
        return 0
    except SchemaError as exc:
        print(f"db: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error: which database, and why
        first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0]
        print(f"db {args.db_command}: {safe_url(url)}: {first}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


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
