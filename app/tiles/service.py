"""Serve tiles from the cache at once and fill misses on worker threads.

A miss is filled from the street basemap renderer (when there is one) or from the online
tile source (when a URL is configured). Failures are silent misses: the map keeps its
plain background and every vector layer, and the tile is not retried for a while so an
offline workstation does not hammer a dead network.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from app.tiles.basemap import BasemapRenderer
from app.tiles.mbtiles import TileCache, tiles_covering

log = logging.getLogger(__name__)

TileKey = tuple[int, int, int]
TileCallback = Callable[[bytes | None], None]


class TileSource:
    """An online XYZ tile server, e.g. ``https://tiles.example/{z}/{x}/{y}.png``."""

    def __init__(self, url_template: str, *, timeout_s: float = 5.0, user_agent: str = "") -> None:
        if not all(part in url_template for part in ("{z}", "{x}", "{y}")):
            raise ValueError(
                f"tile_url {url_template!r}: must contain {{z}}, {{x}} and {{y}} placeholders"
            )
        self.url_template = url_template
        self.timeout_s = timeout_s
        self.user_agent = user_agent or "dispatch-desk tile cache"

    def url(self, zoom: int, x: int, y: int) -> str:
        return self.url_template.format(z=zoom, x=x, y=y, s="a")

    def fetch(self, zoom: int, x: int, y: int) -> bytes | None:
        """The tile's bytes, or None on any failure (logged at debug level)."""
        request = urllib.request.Request(
            self.url(zoom, x, y), headers={"User-Agent": self.user_agent}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if response.status != 200:
                    return None
                return response.read()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.debug("tile %s/%s/%s not fetched: %s", zoom, x, y, exc)
            return None


#: How long a miss waits for the basemap's street network to be read (then: no tile).
RENDERER_WAIT_S = 60.0


class TileService:
    """Cache first; misses go to a worker that renders or fetches, stores, and calls back."""

    def __init__(
        self,
        cache: TileCache,
        *,
        source: TileSource | None = None,
        renderer: BasemapRenderer | None = None,
        max_workers: int = 2,
        retry_after_s: float = 60.0,
    ) -> None:
        self.cache = cache
        self.source = source
        self.renderer = renderer
        self.retry_after_s = retry_after_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tiles")
        self._lock = threading.Lock()
        self._waiting: dict[TileKey, list[TileCallback]] = {}
        self._failed_at: dict[TileKey, float] = {}
        self._closed = False
        self._renderer_known = threading.Event()
        self._renderer_known.set()

    @property
    def can_fill(self) -> bool:
        return (
            self.source is not None
            or self.renderer is not None
            or not self._renderer_known.is_set()
        )

    def await_renderer(self) -> None:
        """Misses wait for :meth:`set_renderer` (the streets are still being read) instead
        of being answered empty."""
        self._renderer_known.clear()

    def set_renderer(self, renderer: BasemapRenderer | None) -> None:
        """Misses are drawn by ``renderer`` from now on (None: nothing draws them)."""
        self.renderer = renderer
        self._renderer_known.set()

    def lookup(self, zoom: int, x: int, y: int) -> bytes | None:
        """The cached tile or None; never blocks on the network."""
        return self.cache.get(zoom, x, y)

    def request(self, zoom: int, x: int, y: int, callback: TileCallback) -> bool:
        """Fill a miss in the background; ``callback(bytes | None)`` runs on a worker thread.

        Returns False (and never calls back) when nothing can fill the tile right now:
        no renderer or source, a recent failure, or the service is shut down.
        """
        key = (zoom, x, y)
        with self._lock:
            if self._closed or not self.can_fill:
                return False
            failed = self._failed_at.get(key)
            if failed is not None and time.monotonic() - failed < self.retry_after_s:
                return False
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.append(callback)  # the same tile is already on its way
                return True
            self._waiting[key] = [callback]
        self._pool.submit(self._fill, key)
        return True

    def _fill(self, key: TileKey) -> None:
        data: bytes | None = None
        try:
            data = self.cache.get(*key)
            if data is None and not self._closed:
                self._renderer_known.wait(RENDERER_WAIT_S)
            if data is None and self.renderer is not None:
                data = self.renderer.render_tile(*key)
            if data is None and self.source is not None:
                data = self.source.fetch(*key)
            if data is not None and not self._closed:
                self.cache.put(*key, data)
        except Exception:  # a worker never dies silently: log, then answer with a miss
            log.exception("tile %s/%s/%s failed", *key)
            data = None
        with self._lock:
            callbacks = self._waiting.pop(key, [])
            if data is None:
                self._failed_at[key] = time.monotonic()
        for callback in callbacks:
            try:
                callback(data)
            except Exception:
                log.exception("tile callback failed")

    def fill_area(
        self,
        bbox: tuple[float, float, float, float],
        zooms: Iterable[int],
        *,
        max_tiles: int = 5000,
        stop: threading.Event | None = None,
    ) -> tuple[int, int]:
        """Fetch or render every missing tile of ``bbox`` at ``zooms`` into the cache, on the
        calling thread (run it as a background job before going offline).

        Returns (tiles added, tiles that failed). Refuses more than ``max_tiles`` tiles:
        public tile servers forbid bulk downloads, so point ``tile_url`` at your own.
        """
        keys = [(z, x, y) for z in zooms for x, y in tiles_covering(bbox, z)]
        if len(keys) > max_tiles:
            raise ValueError(
                f"fill_area: {len(keys)} tiles requested, more than the limit of {max_tiles}; "
                "use a smaller area or fewer zoom levels"
            )
        added = failed = 0
        for key in keys:
            if (stop is not None and stop.is_set()) or self._closed:
                break
            if self.cache.get(*key) is not None:
                continue
            data = self.renderer.render_tile(*key) if self.renderer is not None else None
            if data is None and self.source is not None:
                data = self.source.fetch(*key)
            if data is None:
                failed += 1
                continue
            self.cache.put(*key, data)
            added += 1
        return added, failed

    def shutdown(self) -> None:
        """Stop taking requests; running fills finish, queued ones are dropped."""
        with self._lock:
            self._closed = True
        self._renderer_known.set()  # a fill waiting for the streets gives up
        self._pool.shutdown(wait=False, cancel_futures=True)
