"""``python main.py tiles``: fill, import and list the offline map tile caches.

``seed`` downloads an area from a tile server into the cache the workstation uses for that
URL (``DISPATCH_TILE_URL``), or pre-renders the street basemap; ``import`` copies a prepared
MBTiles file in; ``info`` lists what is on disk.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from app.cli.data_dir import add_data_dir, data_dir

DEFAULT_MAX_TILES = 10_000
# Western longitudes start with "-": let "--bbox -112.1,40.6,-111.8,40.8" read as a value,
# not as an unknown option (argparse only knows plain negative numbers).
_NEGATIVE_LIST = re.compile(r"^-\d[\d.,\s-]*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tiles_command", metavar="ACTION", required=True)
    seed = sub.add_parser(
        "seed",
        help="download (or render) every tile of an area into the cache, while online",
        description="Download every tile of an area into the cache the workstation uses for "
        "that tile URL; rate-limited and resumable (run it again to continue). With "
        "--street-basemap, render the shipped street network's basemap instead.",
    )
    for p in (parser, seed):
        p._negative_number_matcher = _NEGATIVE_LIST
    seed.add_argument("--bbox", metavar="W,S,E,N", help="area in degrees: west,south,east,north")
    seed.add_argument("--zoom", default="12-16", metavar="A-B", help="zoom levels (default 12-16)")
    what = seed.add_mutually_exclusive_group(required=True)
    what.add_argument("--source", metavar="URL", help="tile URL template with {z}, {x}, {y}")
    what.add_argument(
        "--street-basemap",
        action="store_true",
        help="render the street basemap (default area: the whole street network)",
    )
    seed.add_argument(
        "--roads",
        metavar="NAME",
        help="with --street-basemap: the street network to draw (default: the shipped city's; "
        "see `main.py roads list`)",
    )
    seed.add_argument(
        "--rate", type=float, default=4.0, help="tiles per second at most (default 4)"
    )
    seed.add_argument(
        "--max-tiles",
        type=int,
        default=DEFAULT_MAX_TILES,
        metavar="N",
        help=f"refuse areas of more tiles than this (default {DEFAULT_MAX_TILES})",
    )
    seed.add_argument(
        "--retries", type=int, default=2, help="retries of a failing tile (default 2)"
    )
    imp = sub.add_parser(
        "import",
        help="copy the tiles of a prepared MBTiles file into a cache",
        description="Copy the tiles of a prepared MBTiles file into the cache of a tile URL "
        "(what DISPATCH_TILE_URL names) or into the street basemap cache.",
    )
    imp.add_argument("file", metavar="FILE.mbtiles")
    into = imp.add_mutually_exclusive_group(required=True)
    into.add_argument("--source", metavar="URL", help="the tile URL whose cache receives them")
    into.add_argument("--basemap", action="store_true", help="into the street basemap cache")
    imp.add_argument("--replace", action="store_true", help="overwrite tiles already cached")
    sub.add_parser("info", help="list the tile caches: tiles per zoom, extent, size")
    add_data_dir((seed, imp, sub.choices["info"]))


def run(args: argparse.Namespace) -> int:
    try:
        if args.tiles_command == "seed":
            if args.street_basemap:
                return _seed_basemap(args)
            return _seed_source(args)
        if args.tiles_command == "import":
            return _import(args)
        return _info(args)
    except ValueError as exc:
        print(f"tiles {args.tiles_command}: {exc}", file=sys.stderr)
        return 2


def _check_numbers(args: argparse.Namespace) -> None:
    if args.rate <= 0:
        raise ValueError(f"--rate {args.rate}: must be above 0 tiles per second")
    if args.max_tiles < 1:
        raise ValueError(f"--max-tiles {args.max_tiles}: must be at least 1")
    if args.retries < 0:
        raise ValueError(f"--retries {args.retries}: must be 0 or more")


def _seed_source(args: argparse.Namespace) -> int:
    from app.tiles.mbtiles import TileCache
    from app.tiles.seed import (
        Progress,
        check_source_url,
        parse_bbox,
        parse_zooms,
        seed_tiles,
        tile_keys,
    )
    from app.tiles.setup import source_cache_path

    if not args.bbox:
        raise ValueError("--bbox W,S,E,N is required with --source")
    bbox, zooms, url = parse_bbox(args.bbox), parse_zooms(args.zoom), check_source_url(args.source)
    _check_numbers(args)
    keys = tile_keys(bbox, zooms)
    if len(keys) > args.max_tiles:
        top = sum(1 for k in keys if k[0] == zooms[-1])
        raise ValueError(
            f"{len(keys)} tiles at zooms {zooms[0]}-{zooms[-1]} is more than --max-tiles "
            f"{args.max_tiles} (zoom {zooms[-1]} alone is {top}); narrow --bbox, lower the last "
            "zoom, or raise --max-tiles if the tile server's usage policy allows bulk downloads"
        )
    path = source_cache_path(data_dir(args), url)
    tty = sys.stdout.isatty()

    def show(p: Progress) -> None:
        line = (
            f"  {p.done}/{p.total} stored, {p.failed} failed, "
            f"{p.rate:.1f} tiles/s, {p.elapsed_s:.0f} s"
        )
        print(f"\r{line}   " if tty else line, end="" if tty else "\n", flush=True)

    with TileCache(path, name=url) as cache:
        print(f"Seeding {len(keys)} tiles (zooms {zooms[0]}-{zooms[-1]}) into {path}")
        result = seed_tiles(
            cache,
            url,
            keys,
            rate=args.rate,
            retries=args.retries,
            progress=show,
            progress_every_s=1.0 if tty else 10.0,
        )
    if tty:
        print()
    print(
        f"Done in {result.seconds:.1f} s: {result.fetched} fetched, {result.already} already "
        f"cached, {result.failed} failed, {result.requests} requests; "
        f"{result.already + result.fetched}/{result.total} tiles stored."
    )
    for (z, x, y), why in result.failures:
        print(f"  failed {z}/{x}/{y}: {why}")
    if result.stopped:
        print(f"Stopped early: {result.stopped}. What was fetched is kept; run again to continue.")
    elif not result.complete:
        print("Run the same command again to retry the missing tiles.")
    if result.complete:
        print(f"Offline map ready: set DISPATCH_TILE_URL={url}")
    return 0 if result.complete else 1


def _seed_basemap(args: argparse.Namespace) -> int:
    from app.roads.library import SHIPPED_NAME, find_network, open_network
    from app.tiles import StreetLines, open_tile_service, render_basemap, tiles_covering
    from app.tiles.seed import parse_bbox, parse_zooms

    zooms = parse_zooms(args.zoom)
    bbox = parse_bbox(args.bbox) if args.bbox else None
    _check_numbers(args)
    try:
        entry = find_network(data_dir(args), args.roads or SHIPPED_NAME)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from exc
    network = open_network(entry.path, data_dir(args))
    lines = StreetLines.from_network(network)
    area = bbox or lines.bbox
    total = sum(1 for z in zooms for _ in tiles_covering(area, z))
    if total > args.max_tiles:
        raise ValueError(
            f"{total} tiles at zooms {zooms[0]}-{zooms[-1]} is more than --max-tiles "
            f"{args.max_tiles}; narrow --bbox, lower the last zoom or raise --max-tiles"
        )
    service = open_tile_service(data_dir(args), "", network)  # same cache and style stamp
    service.shutdown()
    print(f"Rendering the street basemap, {total} tiles (zooms {zooms[0]}-{zooms[-1]})")
    try:
        stats = render_basemap(lines, service.cache, zooms, area)
    except KeyboardInterrupt:
        print("Interrupted; run again to render the rest.")
        return 1
    finally:
        service.cache.close()
    print(
        f"Done in {stats.seconds:.1f} s: {stats.tiles} tiles rendered ({stats.bytes / 1e6:.1f} MB)"
        f", {stats.empty} without streets left empty, into {service.cache.path}"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from app.tiles.seed import check_source_url
    from app.tiles.setup import basemap_cache_path, source_cache_path
    from app.tiles.transfer import import_mbtiles, inspect_mbtiles

    folder = data_dir(args)
    url = "" if args.basemap else check_source_url(args.source)
    inspect_mbtiles(Path(args.file))  # refuse a bad file before touching any cache
    if args.basemap:
        target = basemap_cache_path(folder)
        _prepare_basemap_cache(folder)
    else:
        target = source_cache_path(folder, url)
    result = import_mbtiles(Path(args.file), target, replace=args.replace)
    print(
        f"Imported {args.file} ({result.in_file} tiles, {result.scheme} rows) into {target}: "
        f"{result.added} added, {result.replaced} replaced, "
        f"{result.skipped_existing} already cached (kept; --replace overwrites), "
        f"{result.skipped_invalid} invalid rows skipped"
    )
    return 0


def _prepare_basemap_cache(data_dir: Path) -> None:
    """Open the basemap cache as the workstation does, so it keeps what is imported.

    The workstation empties a basemap cache whose style stamp is not its street network's.
    """
    from app.roads.library import open_network
    from app.tiles import open_tile_service
    from engine.roads import DEMO_CITY_NETWORK

    network = open_network(DEMO_CITY_NETWORK, data_dir) if DEMO_CITY_NETWORK.exists() else None
    service = open_tile_service(data_dir, "", network)
    service.shutdown()
    service.cache.close()


def _info(args: argparse.Namespace) -> int:
    from app.tiles.transfer import describe_cache

    folder = data_dir(args) / "tiles"
    files = sorted(folder.glob("*.mbtiles")) if folder.is_dir() else []
    if not files:
        print(f"No tile caches in {folder}")
        return 0
    for path in files:
        info = describe_cache(path)
        size = info.size_bytes
        shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
        print(f"{path.name}  {info.name}  {shown}")
        if info.error:
            print(f"  unreadable: {info.error}")
            continue
        total = sum(info.per_zoom.values())
        zooms = ", ".join(f"z{z}: {n}" for z, n in info.per_zoom.items())
        print(f"  {total} tiles" + (f" ({zooms})" if zooms else ""))
        if info.bounds:
            print("  bounds W,S,E,N: " + ",".join(f"{v:.5f}" for v in info.bounds))
    return 0
