"""Dispatch Desk: parse the command line, then run a subcommand or open the workstation.

Subcommands live in their own modules (``app.cli_*``); each offers ``add_arguments(parser)``
and ``run(args) -> int``. They are imported only when used, so ``--help`` stays fast and a
command-line import never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: name -> (module, one-line help). Modules are imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "import": ("app.cli.import_day", "validate and import orders, vehicles, drivers (CSV/JSON)"),
    "demo": ("app.cli.demo", "write a realistic demo day in the demo city, in the import format"),
    "reliability": ("bench.reliability", "fault drills on throwaway services, with counts"),
    "tiles": ("app.cli.tiles", "fill or import the offline map tile cache"),
    "devices": ("app.cli.devices", "map tracker devices (OwnTracks, Traccar) to vehicles"),
    "release": ("app.cli.release", "the release gate per route and wave; release and send routes"),
    "rules": ("app.cli.rules", "the standing rules; dry runs on recorded days"),
    "day": ("app.cli.day", "a day's recording as one file: export, import, list"),
    "db": ("app.cli.db", "check stored days for broken plans (an order on two routes); repair"),
    "kpis": ("app.cli.kpis", "a day's KPIs (docs/kpis.md); targets, costs, learning"),
    "roads": ("app.cli.roads", "street networks: import OSM/GeoJSON/GeoPackage/GeoParquet, list"),
    "report": ("app.cli.report", "the day report: a PDF of KPIs, charts, routes, exceptions + CSV"),
    "users": ("app.cli.users", "who may work at the desks, and as what (dispatcher, supervisor)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Dispatch Desk - a delivery depot's workstation. "
        "With no subcommand it opens the workstation window on the embedded defaults.",
    )
    parser.add_argument(
        "--screenshot", metavar="PATH", help="run offscreen, save a PNG of the window, exit"
    )
    parser.add_argument(
        "--after",
        metavar="SECONDS",
        type=float,
        default=0.0,
        help="with --screenshot: simulated seconds of the day to run first",
    )
    parser.add_argument(
        "--replay",
        metavar="DAY",
        help="open a recorded day read-only (a .dday file, or YYYY-MM-DD from the library)",
    )
    parser.add_argument(
        "--at", metavar="HH:MM", help="with --replay: start at this time of the recorded day"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module_name)
        # Arguments are declared by the module itself, so the help is always true.
        importlib.import_module(module_name).add_arguments(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command:
        return importlib.import_module(args._module).run(args)
    from widgets.app_main import run_workstation

    return run_workstation(args)


if __name__ == "__main__":
    sys.exit(main())
