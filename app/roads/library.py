"""The street networks a workstation knows, by name.

The shipped demo city's network is always there (``salt_lake_city``); others are imported
with ``python main.py roads import FILE --name NAME`` into ``<data dir>/roads/NAME.parquet``
with their import report beside them (``NAME.json``: extent, counts, what was dropped).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.apart import run_apart, why_failed
from engine.roads import DEMO_CITY_NETWORK, Bounds, StreetNetwork, arrays_path, arrays_saved

log = logging.getLogger(__name__)

SHIPPED_NAME = "salt_lake_city"
#: The shipped network's extent (resources/roads/README.md), so listing it reads nothing.
SHIPPED_BOUNDS = Bounds(south=40.589, west=-112.035, north=40.812, east=-111.783)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class NetworkEntry:
    name: str
    path: Path
    shipped: bool
    bounds: Bounds | None
    report: dict[str, Any]

    def contains(self, lat: float, lon: float, margin_deg: float = 0.0) -> bool:
        b = self.bounds
        return b is not None and (
            b.south - margin_deg <= lat <= b.north + margin_deg
            and b.west - margin_deg <= lon <= b.east + margin_deg
        )


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"network name {name!r}: use 1-40 lower-case letters, digits, '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def roads_dir(data_dir: Path) -> Path:
    from app.settings import private_dir

    return private_dir(data_dir / "roads")


def _entry(path: Path) -> NetworkEntry:
    report: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):  # a network without its report still works
        report = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    box = report.get("bounds")
    bounds = Bounds(south=box[1], west=box[0], north=box[3], east=box[2]) if box else None
    return NetworkEntry(path.stem, path, False, bounds, report)


def list_networks(data_dir: Path) -> list[NetworkEntry]:
    """The shipped network (when installed) and every imported one, by name."""
    found = []
    if DEMO_CITY_NETWORK.exists():
        found.append(NetworkEntry(SHIPPED_NAME, DEMO_CITY_NETWORK, True, SHIPPED_BOUNDS, {}))
    folder = data_dir / "roads"
    if folder.is_dir():
        found += [_entry(p) for p in sorted(folder.glob("*.parquet")) if p.stem != SHIPPED_NAME]
    return found


def find_network(data_dir: Path, name: str) -> NetworkEntry:
    for entry in list_networks(data_dir):
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in list_networks(data_dir)) or "none"
    raise KeyError(
        f"no street network named {name!r} (known: {known}); import one with "
        f"`python main.py roads import FILE --name {name}`"
    )


def arrays_dir(data_dir: Path) -> Path:
    """Where street networks' arrays are saved after their first read: the user's data
    folder, writable where the installed street file's folder may not be (an arrays file
    that cannot be saved costs every start a parquet read)."""
    return roads_dir(data_dir) / "arrays"


def open_network(path: Path, data_dir: Path | None = None) -> StreetNetwork:
    """The street network in ``path``, its arrays saved in (and read back from) the data
    folder (``data_dir``, else the user's)."""
    from app.settings import private_dir, user_data_dir

    folder = private_dir(arrays_dir(data_dir if data_dir is not None else user_data_dir()))
    if not arrays_saved(path, folder):
        save_arrays_apart(path, folder)
    return StreetNetwork.load(path, arrays_dir=folder)


def save_arrays_apart(path: Path, folder: Path) -> bool:
    """Read a street file for the first time in a child process, which saves its arrays in
    ``folder`` for this process to read back with NumPy alone: the parquet reader never
    enters a long-running window (pyarrow maps some 45 MB of libraries, and a parquet read
    leaves tens of megabytes of the C heap behind, held for the whole day). False, logged,
    when the child could not do it; the caller then reads the file itself."""
    done, why = run_apart("app.roads.save_arrays", [str(path), str(folder)], timeout_s=900)
    if done is None:
        log.info("street network %s: not read apart (%s); reading it here", path.name, why)
        return False
    if done.returncode != 0 or not arrays_saved(path, folder):
        log.warning("street network %s: reading it apart failed (%s); reading it here",
                    path.name, why_failed(done))  # fmt: skip
        return False
    return True


def load_network(data_dir: Path, name: str) -> StreetNetwork:
    return open_network(find_network(data_dir, name).path, data_dir)


def remove_network(data_dir: Path, name: str) -> Path:
    entry = find_network(data_dir, name)
    if entry.shipped:
        raise ValueError(f"{name!r} ships with the application and cannot be removed")
    entry.path.unlink()
    entry.path.with_suffix(".json").unlink(missing_ok=True)
    arrays_path(entry.path, arrays_dir(data_dir)).unlink(missing_ok=True)
    arrays_path(entry.path).unlink(missing_ok=True)  # where earlier versions saved them
    return entry.path


def covering(data_dir: Path, lat: float, lon: float) -> list[NetworkEntry]:
    """The networks whose extent holds the point."""
    return [e for e in list_networks(data_dir) if e.contains(lat, lon)]
