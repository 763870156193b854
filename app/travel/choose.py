"""Which travel model a depot gets: its city's street network when one ships, else haversine."""

from __future__ import annotations

import functools
import logging

from engine.model import Depot
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
from engine.travel import HaversineTravelModel, StreetNetworkTravelModel

log = logging.getLogger(__name__)


def _inside(network: StreetNetwork, depot: Depot) -> bool:
    box = network.bounds
    return (
        box.south <= depot.location.lat <= box.north and box.west <= depot.location.lon <= box.east
    )


@functools.lru_cache(maxsize=4)
def travel_model_for(depot: Depot | None):
    """The street-network model when the depot lies inside a shipped network, else haversine.

    One model per depot for the process, so its matrix cache serves every plan and re-plan.
    """
    if depot is not None and DEMO_CITY_NETWORK.exists():
        network = StreetNetwork.load(DEMO_CITY_NETWORK)  # parsed once per process
        if _inside(network, depot):
            return StreetNetworkTravelModel(network, timezone=depot.timezone)
    log.info("no street network covers depot %s: straight-line travel times", depot and depot.id)
    return HaversineTravelModel()
