"""A big day's points snapped to the streets in one search give every later matrix the
same entries, and a point far from the streets is still refused by the matrix asking."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model import Location
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
from engine.travel import StreetNetworkTravelModel


def test_matrices_after_snapping_ahead_are_the_same():
    net = StreetNetwork.load(DEMO_CITY_NETWORK)
    pts = net.random_street_points(np.random.default_rng(7), 90)
    points = [Location(float(a), float(b)) for a, b in zip(pts.lat, pts.lon, strict=True)]
    far = Location(39.7392, -104.9903)  # Denver
    ahead = StreetNetworkTravelModel(net)
    ahead.snap_ahead([*points, far])
    plain = StreetNetworkTravelModel(net)
    for part in (points[:30], points[30:60], points[60:]):  # a matrix per route
        a, b = ahead.matrices(part), plain.matrices(part)
        assert np.array_equal(a.distance_m, b.distance_m)
        assert np.array_equal(a.duration_s, b.duration_s)
    with pytest.raises(ValueError, match=r"point 1 \(39.739200, -104.990300\) is \d+ m from"):
        ahead.matrices([points[0], far])
