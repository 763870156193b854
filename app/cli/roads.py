"""``python main.py roads``: import, list and remove street networks.

``import FILE --name NAME`` reads an OpenStreetMap extract (.osm.pbf, .osm) or street lines
in GeoJSON, GeoPackage or GeoParquet into the street-network format the planner and the
basemap use, and prints what it read, kept and dropped (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.data_dir import add_data_dir, data_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="roads_command", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="read street lines (.osm.pbf, .osm, .geojson, .gpkg, .parquet) as a network",
        description="Read an OpenStreetMap extract or street lines in GeoJSON, GeoPackage or "
        "GeoParquet into a named street network: road class, posted speed, one-way. Lines "
        "are cut where streets meet; islands cut off from the main network are dropped.",
    )
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--name", required=True, help="the network's name (a-z, 0-9, _ and -)")
    imp.add_argument("--replace", action="store_true", help="overwrite a network of that name")
    imp.add_argument(
        "--keep-islands",
        action="store_true",
        help="keep street islands not connected to the main network",
    )
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    ls = sub.add_parser("list", help="the street networks known, with extent and size")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    rm = sub.add_parser("remove", help="remove an imported street network")
    rm.add_argument("name", metavar="NAME")
    add_data_dir((imp, ls, rm))


def run(args: argparse.Namespace) -> int:
    try:
        if args.roads_command == "import":
            return _import(args)
        if args.roads_command == "list":
            return _list(args)
        return _remove(args)
    except (ValueError, KeyError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"roads {args.roads_command}: {text}", file=sys.stderr)
        return 2


def _import(args: argparse.Namespace) -> int:
    from app.roads.importer import import_streets
    from app.roads.library import SHIPPED_NAME, arrays_dir, check_name, roads_dir
    from app.settings import private_dir
    from engine.roads import arrays_path

    name = check_name(args.name)
    if name == SHIPPED_NAME:
        raise ValueError(f"{name!r} is the shipped network's name; choose another")
    source = Path(args.file)
    folder = roads_dir(data_dir(args))
    target = folder / f"{name}.parquet"
    if target.exists() and not args.replace:
        raise ValueError(f"a network named {name!r} exists; give --replace to overwrite it")
    partial = folder / f"{name}.importing.parquet"
    try:
        report = import_streets(source, partial, name, keep_all_components=args.keep_islands)
    except BaseException:
        partial.unlink(missing_ok=True)
        arrays_path(partial).unlink(missing_ok=True)
        raise
    partial.replace(target)
    # The arrays the import's own read saved: the window reads them at start, not the parquet.
    saved = arrays_path(target, private_dir(arrays_dir(data_dir(args))))
    arrays_path(target).unlink(missing_ok=True)  # where earlier versions saved them
    if arrays_path(partial).exists():
        arrays_path(partial).replace(saved)
    else:
        saved.unlink(missing_ok=True)
    data = report.as_json()
    target.with_suffix(".json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(report.text())
        print(f"  saved as {target}")
        print(
            f"Use it: python main.py demo --roads {name} --out DIR, or name it as a depot's "
            f"travel source; basemap: python main.py tiles seed --street-basemap --roads {name}"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.roads.library import list_networks

    entries = list_networks(data_dir(args))
    if args.json:
        rows = [
            {"name": e.name, "shipped": e.shipped, "path": str(e.path),
             "bounds": [e.bounds.west, e.bounds.south, e.bounds.east, e.bounds.north]
             if e.bounds else None, **{k: e.report[k] for k in
             ("nodes", "edges", "km", "components", "source") if k in e.report}}
            for e in entries
        ]  # fmt: skip
        print(json.dumps(rows, indent=1))
        return 0
    if not entries:
        print("No street networks: import one with `python main.py roads import FILE --name NAME`")
    for e in entries:
        r = e.report
        size = (f"{r['nodes']:,} nodes, {r['edges']:,} edges, {r['km']:,.0f} km"
                if "nodes" in r else "shipped with the application")  # fmt: skip
        box = (",".join(f"{v:.4f}" for v in (e.bounds.west, e.bounds.south, e.bounds.east,
               e.bounds.north)) if e.bounds else "?")  # fmt: skip
        print(
            f"{e.name}  {size}  W,S,E,N {box}" + (f"  from {r['source']}" if "source" in r else "")
        )
    return 0


def _remove(args: argparse.Namespace) -> int:
    from app.roads.library import remove_network

    path = remove_network(data_dir(args), args.name)
    print(f"Removed street network {args.name!r} ({path})")
    return 0
