"""``python main.py rules``: the standing rules, and dry runs on recorded days.

rules dry-run --day D [--depot X] [--rules FILE]... [--json]
rules list [--json]              # the rules in force here, as sentences
rules check FILE                 # is every rule in the file valid? (the reason if not)
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    dry = sub.add_parser(
        "dry-run",
        help="re-run a recorded day's disruptions through the digital twin with a rule set "
        "acting, and without",
        description="Re-run a recorded day's disruptions through the digital twin: once "
        "without rules, then with each rule set (every enabled rule acting), and report "
        "firings, stops moved, late stops and minutes, and person actions needed.",
    )
    dry.add_argument("--day", required=True, help="YYYY-MM-DD (in the library) or a .dday file")
    dry.add_argument("--depot", help="the depot, when the library holds the day for several")
    dry.add_argument(
        "--rules",
        action="append",
        metavar="FILE",
        help="a rule set (JSON); give it twice to compare two sets side by side "
        "(default: the rules in force, else the shipped set)",
    )
    dry.add_argument("--json", action="store_true", help="print the report as JSON")
    lst = sub.add_parser("list", help="the rules in force at this desk, as sentences")
    lst.add_argument("--json", action="store_true")
    chk = sub.add_parser("check", help="check a rule file: each rule valid, or the reason")
    chk.add_argument("file")


def run(args: argparse.Namespace) -> int:
    if args.rules_command == "dry-run":
        return _dry_run(args)
    if args.rules_command == "check":
        return _check(args)
    return _list(args)


def _rules_in_force():
    """The stored rules of this desk's depot (standard + local), else the shipped set."""
    from app.rules.dryrun import default_rules

    try:
        from app.rules.store_io import stored_rules

        found = stored_rules()
    except Exception:  # no database yet: the shipped set
        found = None
    return ("in force", found) if found else ("default", default_rules())


def _dry_run(args: argparse.Namespace) -> int:
    from app.recorder.library import find
    from app.rules.dryrun import DaySource, dry_run, load_rule_file, report_text
    from app.store.dayfile import DayFileError

    try:
        path = find(args.day, args.depot)
        source = DaySource.from_file(path)
        if args.rules:
            if len(args.rules) > 2:
                raise ValueError("--rules: at most two rule sets side by side")
            sets = [(_set_name(f), load_rule_file(f)) for f in args.rules]
        else:
            sets = [_rules_in_force()]
    except (FileNotFoundError, DayFileError, ValueError) as exc:
        print(f"rules dry-run: {exc}", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        if not args.json:
            print(text + "…", flush=True)

    report = dry_run(source, sets, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(report_text(report))
    return 0


def _set_name(path: str) -> str:
    from pathlib import Path

    return Path(path).stem


def _list(args: argparse.Namespace) -> int:
    from engine.automation import sentence

    where, rules = _rules_in_force()
    if args.json:
        print(json.dumps([r.to_json() for r in rules], indent=2))
        return 0
    print(f"{len(rules)} rules ({where}):")
    for r in rules:
        print(f"- {r.name} [{r.id} v{r.version}{', ' + r.depot_id if r.depot_id else ''}]")
        print(f"  {sentence(r)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.rules.dryrun import load_rule_file

    try:
        rules = load_rule_file(args.file)
    except ValueError as exc:
        print(exc)
        return 1
    print(f"{args.file}: {len(rules)} valid rules")
    return 0
