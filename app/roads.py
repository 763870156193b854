"""Which travel model a depot gets: its city's street network when one ships, else haversine."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from engine.model import Depot

log = logging.getLogger(__name__)

ROADS_DIR = Path(__file__).resolve().parent.parent / "resources" / "roads"
DEMO_CITY_FILE = ROADS_DIR / "salt_lake_city.parquet"


@functools.lru_cache(maxsize=2)
def street_network(path: Path = DEMO_CITY_FILE):
    """The parsed street network (cached for the process: parsing takes a moment)."""
    from engine.roads import StreetNetwork

    return StreetNetwork.load(path)


def travel_model_for(depot: Depot | None):
    """The street-network model when the depot lies inside a shipped network, else haversine."""
    from engine.travel import HaversineTravelModel, StreetNetworkTravelModel

    if depot is not None and DEMO_CITY_FILE.exists():
        network = street_network()
        if network.contains(depot.location.lat, depot.location.lon):
            return StreetNetworkTravelModel(network)
    return HaversineTravelModel()
