"""``python main.py devices``: the tracker device table — which vehicle each device rides in.

OwnTracks devices are keyed ``user/device`` (the topic's last two levels), Traccar devices
by their ``uniqueId`` (or numeric ``deviceId``). Native telemetry names its vehicle itself
and needs no entry. A running workstation edits the same table from Telemetry ▸ Devices.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL of the database (default: DISPATCH_DATABASE_URL, else the "
        "SQLite file in the user data directory)",
    )
    sub = parser.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    sub.add_parser("list", parents=[common], help="print the device table")
    put = sub.add_parser("set", parents=[common], help="map a device to a vehicle (or re-map it)")
    put.add_argument("device", help="OwnTracks user/device, or Traccar uniqueId")
    put.add_argument("vehicle", help="the vehicle id it rides in")
    rm = sub.add_parser("remove", parents=[common], help="forget a device's mapping")
    rm.add_argument("device")


def run(args: argparse.Namespace) -> int:
    from app.cli.who import identity, supervisor_only
    from app.importer.persist import safe_url
    from app.settings import Settings
    from app.store import open_store
    from app.store.roles import begin_command
    from app.telemetry.persist import list_devices, remove_device, save_device

    settings = Settings.from_env()
    url = args.database or settings.effective_database_url
    try:
        store = open_store(url, workstation=settings.workstation_id)
    except Exception as exc:  # any driver error: say which database and why
        print(f"devices: cannot open the database {safe_url(url)}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.devices_command == "list":
            with store.read_session() as session:
                rows = list_devices(session)
            if not rows:
                print("no devices mapped (native telemetry needs none)")
            width = max((len(key) for key, _, _ in rows), default=0)
            for key, vehicle, at in rows:
                print(f"{key:<{width}}  {vehicle}  (since {at:%Y-%m-%d %H:%M})")
            return 0
        who = identity(settings, url)
        if not supervisor_only(who, f"devices {args.devices_command}"):
            return 1
        actor = f"{who.user}@{settings.workstation_id}"
        if args.devices_command == "set":
            try:
                with store.session() as session:
                    begin_command(session, "devices", actor)
                    save_device(session, args.device.strip(), args.vehicle)
            except ValueError as exc:  # CommandForbidden too: the database refused
                print(f"devices set: {exc}", file=sys.stderr)
                return 1
            print(f"{args.device.strip()} -> {args.vehicle}")
            return 0
        with store.session() as session:
            begin_command(session, "devices", actor)
            removed = remove_device(session, args.device)
        if not removed:
            print(f"devices remove: {args.device!r} is not in the device table", file=sys.stderr)
            return 1
        print(f"{args.device} removed")
        return 0
    finally:
        store.close()
