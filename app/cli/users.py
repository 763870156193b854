"""``python main.py users``: who may work at the desks, and as what.

On PostgreSQL (run by the administrator, after ``main.py db upgrade``): ``users add NAME
--role dispatcher|supervisor`` creates the person's database login (or changes its role and
password) as a member of that role only; ``users list`` prints the logins and their roles.
The password comes from ``DISPATCH_USER_PASSWORD``, else from standard input when it is not
a terminal, else it is asked twice without echo; it is never printed.

On SQLite (a desk of its own) there are no database users: ``users role dispatcher|supervisor``
sets the role in this account's profile (``app.profile``), ``users list`` prints it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

PASSWORD_ENV = "DISPATCH_USER_PASSWORD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL, connecting as the administrator (default: "
        "DISPATCH_DATABASE_URL with its password from the keyring)",
    )
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", parents=[common], help="add a person (or change their role)")
    add.add_argument("name", help="the database login, e.g. dana")
    add.add_argument("--role", required=True, choices=("dispatcher", "supervisor"))
    sub.add_parser("list", parents=[common], help="the people and their roles")
    role = sub.add_parser("role", help="SQLite: set this account's role in its profile")
    role.add_argument("role", choices=("dispatcher", "supervisor"))


def _password(name: str) -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from app.cli.db import admin_url
    from app.importer.persist import safe_url
    from app.profile import profile_path, read_profile, write_role

    if args.users_command == "role":
        path = write_role(args.role)
        print(f"{path}: this account works as {args.role} on a desk of its own (SQLite)")
        return 0
    url = admin_url(args)
    if url.startswith("sqlite"):
        if args.users_command == "list":
            print(f"SQLite: one desk; this account is {read_profile()['role']} "
                  f"({profile_path()})")  # fmt: skip
            return 0
        print(
            "users add: a SQLite database has no users; set this account's role with "
            "`python main.py users role dispatcher|supervisor`, or point "
            "DISPATCH_DATABASE_URL at the shared PostgreSQL",
            file=sys.stderr,
        )
        return 2
    from app.store.database import create_store_engine
    from app.store.roles import add_user, list_users

    engine = create_store_engine(url)
    try:
        if args.users_command == "list":
            users = list_users(engine)
            if not users:
                print("no users yet: python main.py users add NAME --role dispatcher")
            for u in users:
                print(f"{u.name:<24} {u.role}{'' if u.can_login else '  (cannot log in)'}")
            return 0
        password = _password(args.name)
        created = add_user(engine, args.name, args.role, password)
        print(f"{'added' if created else 'updated'} {args.name} as {args.role}; they connect "
              f"with postgresql+psycopg://{args.name}@HOST/DATABASE")  # fmt: skip
        return 0
    except ValueError as exc:
        print(f"users {args.users_command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error: which database, and why (never the password)
        first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0]
        print(f"users {args.users_command}: {safe_url(url)}: {first}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
