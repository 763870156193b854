"""Which travel model a depot gets: the travel source it names, never a silent fall-back.

A depot's ``travel`` names its source (:class:`TravelSource`):

- ``roads:NAME`` — a street network by name (the shipped ``salt_lake_city`` or one imported
  with ``main.py roads import``);
- ``osrm:URL`` — an OSRM-compatible routing server (its ``/table`` service);
- ``straight`` or ``straight:DETOUR`` — straight lines times a detour factor, on purpose;
- empty — the street network whose area holds the depot.

When the named network is missing or no network holds the depot, the depot is planned on
straight lines and :class:`TravelChoice` carries a warning that the window shows in its
status bar and the import report lists.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.model import Depot
from engine.roads import StreetNetwork
from engine.travel import HaversineTravelModel, StreetNetworkTravelModel

log = logging.getLogger(__name__)

DEFAULT_DETOUR = 1.3
#: An order farther than this from any street of its depot's network is refused at import.
MAX_STREET_DISTANCE_M = 2000.0


@dataclass(frozen=True)
class TravelSource:
    """A depot's travel source: ``kind`` is roads, osrm, straight or auto (empty text)."""

    kind: str
    value: str = ""

    @classmethod
    def parse(cls, text: str | None) -> TravelSource:
        text = (text or "").strip()
        if not text:
            return cls("auto")
        kind, _, value = text.partition(":")
        kind, value = kind.strip().lower(), value.strip()
        if kind == "roads":
            from app.roads.library import check_name

            if not value:
                raise ValueError("travel 'roads:NAME': the network's name is missing")
            return cls("roads", check_name(value))
        if kind == "osrm":
            from urllib.parse import urlparse

            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(f"travel {text!r}: expected osrm:http(s)://host[:port][/prefix]")
            return cls("osrm", value.rstrip("/"))
        if kind == "straight":
            try:
                detour = float(value) if value else DEFAULT_DETOUR
            except ValueError:
                detour = math.nan
            if not 1.0 <= detour <= 3.0:
                raise ValueError(
                    f"travel {text!r}: the detour factor must be a number from 1 to 3 "
                    "(e.g. straight:1.3)"
                )
            return cls("straight", f"{detour:g}")
        raise ValueError(
            f"travel {text!r}: expected roads:NAME, osrm:URL, straight[:DETOUR] or nothing "
            "(the street network whose area holds the depot)"
        )

    def text(self) -> str:
        return "" if self.kind == "auto" else f"{self.kind}:{self.value}"


@dataclass(frozen=True, eq=False)
class TravelChoice:
    """The model a depot plans with, what it is in words, and a warning when it is not
    what the depot asked for (or no street network holds the depot)."""

    model: Any
    label: str
    warning: str = ""
    network: StreetNetwork | None = None
    network_name: str = ""


def _data_dir() -> Path:
    from app.settings import user_data_dir

    return user_data_dir()


def _straight(detour: float) -> HaversineTravelModel:
    return HaversineTravelModel(detour=detour)


_CHOOSING = threading.Lock()  # one choice (one model, one matrix cache) per depot and folder
_CHOSEN: set[tuple[Depot | None, Path]] = set()


def choose(depot: Depot | None, data_dir: Path | None = None) -> TravelChoice:
    """The travel model for ``depot`` as its travel source names it (cached per depot)."""
    key = (depot, data_dir or _data_dir())
    with _CHOOSING:  # a job asking while the window's choice is still being made waits for it
        choice = _choose(*key)
        _CHOSEN.add(key)
    return choice


def choose_soon(depot: Depot | None, data_dir: Path | None = None) -> Future[TravelChoice]:
    """:func:`choose` on a thread of its own, since reading a street network takes a moment;
    done at once when the depot's choice was made before."""
    future: Future[TravelChoice] = Future()
    key = (depot, data_dir or _data_dir())
    if key in _CHOSEN:
        future.set_result(choose(*key))
        return future

    def run() -> None:
        try:
            future.set_result(choose(*key))
        except BaseException as exc:  # handed to whoever waits for the choice
            future.set_exception(exc)

    threading.Thread(target=run, name="travel-choice", daemon=True).start()
    return future


class TravelWhenReady:
    """Stands for a depot's travel model while :func:`choose_soon` makes it: anything asked
    of it waits for the model (or raises what making it raised), then is the model's."""

    def __init__(self, future: Future[TravelChoice]) -> None:
        self._future = future

    def __getattr__(self, name: str) -> Any:
        return getattr(self._future.result().model, name)


@functools.lru_cache(maxsize=16)
def _choose(depot: Depot | None, data_dir: Path) -> TravelChoice:
    from app.roads.library import covering, find_network, open_network

    if depot is None:
        return TravelChoice(_straight(DEFAULT_DETOUR), "straight lines (no depot)")
    try:
        source = TravelSource.parse(depot.travel)
    except ValueError as exc:
        return TravelChoice(
            _straight(DEFAULT_DETOUR),
            f"straight lines ×{DEFAULT_DETOUR:g}",
            f"depot {depot.id}: {exc}; planning on straight lines ×{DEFAULT_DETOUR:g}",
        )
    lat, lon = depot.location.lat, depot.location.lon
    if source.kind == "straight":
        detour = float(source.value)
        return TravelChoice(_straight(detour), f"straight lines ×{detour:g} (chosen)")
    if source.kind == "osrm":
        from app.travel.osrm import OsrmTravelModel

        return TravelChoice(OsrmTravelModel(source.value), f"routing server {source.value}")
    fallback = f"planning on straight lines ×{DEFAULT_DETOUR:g}"
    if source.kind == "roads":
        try:
            entry = find_network(data_dir, source.value)
        except KeyError as exc:
            return TravelChoice(
                _straight(DEFAULT_DETOUR), f"straight lines ×{DEFAULT_DETOUR:g}",
                f"depot {depot.id}: {exc.args[0]}; {fallback}",
            )  # fmt: skip
        warning = ""
        if entry.bounds is not None and not entry.contains(lat, lon, margin_deg=0.02):
            warning = (
                f"depot {depot.id} ({lat:.5f}, {lon:.5f}) lies outside the area of street "
                f"network {entry.name!r}"
            )
    else:
        found = covering(data_dir, lat, lon)
        if not found:
            return TravelChoice(
                _straight(DEFAULT_DETOUR), f"straight lines ×{DEFAULT_DETOUR:g}",
                f"depot {depot.id} ({lat:.5f}, {lon:.5f}) lies outside every street "
                f"network's area: {fallback} (import its streets with `main.py roads "
                "import`, or set the depot's travel to straight:1.3 on purpose)",
            )  # fmt: skip
        entry, warning = found[0], ""
    network = open_network(entry.path, data_dir)  # parsed once per process
    model = StreetNetworkTravelModel(network, timezone=depot.timezone)
    return TravelChoice(model, f"streets of {entry.name}", warning, network, entry.name)


def travel_model_for(depot: Depot | None) -> Any:
    """The depot's travel model (one per depot for the process, so its matrix cache
    serves every plan and re-plan); a warning is logged, the window shows it too."""
    choice = choose(depot)
    if choice.warning:
        log.warning("%s", choice.warning)
    return choice.model


_CELL_M = 250.0


@dataclass(frozen=True, eq=False)
class _NearGrid:
    """Cells of 250 m (local metres about the network's centre) with a street node within
    four cells: any point in them is under 2 km of a street (5 cells' diagonal, 1.77 km),
    found with one array look-up per imported order."""

    near: np.ndarray
    x0: float
    y0: float
    k: float

    def surely_near(self, lat: float, lon: float) -> bool:
        i = int((lat * 110_574.0 - self.y0) // _CELL_M)
        j = int((lon * self.k * 111_320.0 - self.x0) // _CELL_M)
        rows, cols = self.near.shape
        return 0 <= i < rows and 0 <= j < cols and bool(self.near[i, j])


@functools.lru_cache(maxsize=8)
def _near_grid(net: StreetNetwork) -> _NearGrid:
    from scipy.ndimage import binary_dilation

    reach = int(MAX_STREET_DISTANCE_M / (_CELL_M * math.sqrt(2))) - 1
    k = math.cos(math.radians(float(net.node_lat.mean())))
    x, y = net.node_lon * k * 111_320.0, net.node_lat * 110_574.0
    x0, y0 = float(x.min()) - _CELL_M * (reach + 1), float(y.min()) - _CELL_M * (reach + 1)
    j, i = ((x - x0) // _CELL_M).astype(int), ((y - y0) // _CELL_M).astype(int)
    grid = np.zeros((int(i.max()) + reach + 2, int(j.max()) + reach + 2), dtype=bool)
    grid[i, j] = True
    near = binary_dilation(grid, structure=np.ones((2 * reach + 1, 2 * reach + 1), bool))
    return _NearGrid(near, x0, y0, k)


def distance_to_streets(choice: TravelChoice, lat: float, lon: float) -> float | None:
    """Metres from a point to the nearest street of the depot's network, or 0 when it is
    surely under :data:`MAX_STREET_DISTANCE_M` (None: the depot has no network)."""
    net = choice.network
    if net is None:
        return None
    if _near_grid(net).surely_near(lat, lon):
        return 0.0
    return float(net.distance_to_street_m(lat, lon)[0])
