"""Great-circle geometry on WGS84 degrees (numpy-vectorised where it matters)."""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_matrix_m(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """All-pairs great-circle distances in metres (n x n float64)."""
    return haversine_between_m(lats, lons, lats, lons)


def haversine_between_m(
    lats1: np.ndarray, lons1: np.ndarray, lats2: np.ndarray, lons2: np.ndarray
) -> np.ndarray:
    """Great-circle distances in metres from each point of one set to each of another."""
    lat1 = np.radians(np.asarray(lats1, dtype=np.float64))
    lon1 = np.radians(np.asarray(lons1, dtype=np.float64))
    lat2 = np.radians(np.asarray(lats2, dtype=np.float64))
    lon2 = np.radians(np.asarray(lons2, dtype=np.float64))
    dp = lat1[:, None] - lat2[None, :]
    dl = lon1[:, None] - lon2[None, :]
    a = np.sin(dp / 2) ** 2 + np.cos(lat1)[:, None] * np.cos(lat2)[None, :] * np.sin(dl / 2) ** 2
    distances: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return distances


def haversine_pairs_m(
    lats1: np.ndarray, lons1: np.ndarray, lats2: np.ndarray, lons2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres from point ``k`` of one set to point ``k`` of the
    other: each one as :func:`haversine_between_m` gives it (the same steps, element by
    element)."""
    lat1 = np.radians(np.asarray(lats1, dtype=np.float64))
    lon1 = np.radians(np.asarray(lons1, dtype=np.float64))
    lat2 = np.radians(np.asarray(lats2, dtype=np.float64))
    lon2 = np.radians(np.asarray(lons2, dtype=np.float64))
    dp = lat1 - lat2
    dl = lon1 - lon2
    a = np.sin(dp / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dl / 2) ** 2
    distances: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return distances
