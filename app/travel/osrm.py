"""Travel matrices from an OSRM-compatible routing server (its ``/table`` service).

Lives in ``app`` because it talks to the network; it implements the engine's
:class:`engine.travel.TravelModel` protocol, so the solver cannot tell it from the others.
Large point sets are asked for in blocks (servers cap the table size, OSRM at 100 by
default); results are cached per point set.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from engine.model import Location
from engine.travel import TravelMatrices

log = logging.getLogger(__name__)


class OsrmError(RuntimeError):
    """The routing server could not be reached or answered with an error."""


class OsrmTravelModel:
    """Driving distances and durations from ``{url}/table/v1/{profile}/...``."""

    def __init__(
        self,
        url: str,
        *,
        profile: str = "driving",
        max_locations: int = 100,
        timeout_s: float = 30.0,
        cache_size: int = 8,
    ) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"OSRM url {url!r}: expected http(s)://host[:port][/prefix]")
        if max_locations < 2:
            raise ValueError(f"max_locations: must be at least 2, got {max_locations}")
        self.url = url.rstrip("/")
        self.profile = profile
        self.max_locations = max_locations
        self.timeout_s = timeout_s
        self._cache: OrderedDict[bytes, TravelMatrices] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def matrices(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> TravelMatrices:
        """All-pairs matrices; ``depart`` is ignored (OSRM has no time of day)."""
        coords = np.array([(p.lon, p.lat) for p in points], dtype=np.float64).reshape(-1, 2)
        key = coords.tobytes()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        n = len(coords)
        distance, duration = np.zeros((n, n)), np.zeros((n, n))
        block = max(1, self.max_locations // 2)
        for lo in range(0, n, block):
            for co in range(0, n, block):
                src = np.arange(lo, min(lo + block, n))
                dst = np.arange(co, min(co + block, n))
                dur, dist = self._table(coords, src, dst)
                duration[np.ix_(src, dst)] = dur
                distance[np.ix_(src, dst)] = dist
        result = TravelMatrices(distance, duration)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result

    def _table(
        self, coords: np.ndarray, src: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        same = np.array_equal(src, dst)
        chosen = coords[src] if same else np.vstack([coords[src], coords[dst]])
        path = ";".join(f"{lon:.6f},{lat:.6f}" for lon, lat in chosen)
        query = {"annotations": "duration,distance"}
        if not same:
            query["sources"] = ";".join(str(i) for i in range(len(src)))
            query["destinations"] = ";".join(str(len(src) + i) for i in range(len(dst)))
        url = (
            f"{self.url}/table/v1/{self.profile}/{path}?{urllib.parse.urlencode(query, safe=';,')}"
        )
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise OsrmError(
                f"OSRM {self.url}: HTTP {exc.code} for a table request: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise OsrmError(f"OSRM {self.url}: cannot reach the server ({exc})") from exc
        except ValueError as exc:
            raise OsrmError(f"OSRM {self.url}: the answer is not JSON ({exc})") from exc
        if body.get("code") != "Ok":
            raise OsrmError(
                f"OSRM {self.url}: table request refused: {body.get('code')} {body.get('message', '')}"
            )
        shape = (len(src), len(dst))
        return self._grid(body, "durations", shape), self._grid(body, "distances", shape)

    def _grid(self, body: dict, name: str, shape: tuple[int, int]) -> np.ndarray:
        rows = body.get(name)
        if rows is None:
            raise OsrmError(f"OSRM {self.url}: the answer has no {name!r} (server too old?)")
        grid = np.array(
            [[np.inf if v is None else float(v) for v in row] for row in rows], dtype=np.float64
        )
        if grid.shape != shape:
            raise OsrmError(f"OSRM {self.url}: {name} has shape {grid.shape}, expected {shape}")
        if np.isinf(grid).any():
            log.warning("OSRM %s: %d unroutable pairs in %s", self.url, np.isinf(grid).sum(), name)
        return grid
