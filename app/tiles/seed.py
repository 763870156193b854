"""Fill a tile cache from an online source ahead of time: polite, rate-limited, resumable.

Tiles already in the cache are never fetched again, and every fetched tile is stored at
once, so an interrupted run (Ctrl+C, network loss) keeps what it got and the next run
continues where it stopped.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.tiles.mbtiles import TileCache, tiles_covering

log = logging.getLogger(__name__)

USER_AGENT = "dispatch-desk-tile-seeder/1.0 (Dispatch Desk offline map cache)"
MAX_ZOOM = 19
#: Give up on the whole run after this many tiles in a row failed: the source is down.
GIVE_UP_AFTER = 20

Bbox = tuple[float, float, float, float]
TileKey = tuple[int, int, int]


def parse_bbox(text: str) -> Bbox:
    """``WEST,SOUTH,EAST,NORTH`` in degrees, checked for order and range."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"--bbox {text!r}: expected four numbers WEST,SOUTH,EAST,NORTH")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--bbox {text!r}: expected four numbers WEST,SOUTH,EAST,NORTH") from None
    if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
        raise ValueError(f"--bbox {text!r}: longitudes must lie within -180..180")
    if not (-85.0511 <= south <= 85.0511 and -85.0511 <= north <= 85.0511):
        raise ValueError(f"--bbox {text!r}: latitudes must lie within -85.05..85.05 (Web Mercator)")
    if west >= east or south >= north:
        raise ValueError(
            f"--bbox {text!r}: expected WEST < EAST and SOUTH < NORTH "
            "(order is WEST,SOUTH,EAST,NORTH, i.e. lon,lat,lon,lat)"
        )
    return west, south, east, north


def parse_zooms(text: str) -> range:
    """``12-16`` or ``14``: zoom levels within 0..19, start <= end."""
    parts = text.split("-")
    try:
        if len(parts) == 1:
            start = end = int(parts[0])
        elif len(parts) == 2:
            start, end = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"--zoom {text!r}: expected START-END, e.g. 12-16, or one level") from None
    if not (0 <= start <= MAX_ZOOM and 0 <= end <= MAX_ZOOM):
        raise ValueError(f"--zoom {text!r}: zoom levels must lie within 0..{MAX_ZOOM}")
    if start > end:
        raise ValueError(f"--zoom {text!r}: the first level must not exceed the last")
    return range(start, end + 1)


def check_source_url(url: str) -> str:
    """The URL template, if it has {z}, {x} and {y} and an http(s) scheme."""
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    if missing:
        raise ValueError(f"--source {url!r}: missing the placeholder(s) {', '.join(missing)}")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--source {url!r}: expected an http:// or https:// URL")
    try:
        url.format(z=0, x=0, y=0, s="a")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"--source {url!r}: unsupported placeholder {exc} (only {{z}} {{x}} {{y}} {{s}})"
        ) from None
    return url


def tile_keys(bbox: Bbox, zooms: Iterable[int]) -> list[TileKey]:
    """Every XYZ tile of ``bbox`` at ``zooms``, low zooms first."""
    return [(z, x, y) for z in zooms for x, y in tiles_covering(bbox, z)]


class RateLimiter:
    """At most ``rate`` calls of :meth:`wait` per second, evenly spaced."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate {rate}: must be above 0 tiles per second")
        self.interval = 1.0 / rate
        self._next = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + self.interval


class _Transient(Exception):
    """A failure worth retrying (timeouts, 429, 5xx, connection errors)."""

    def __init__(self, reason: str, retry_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def _fetch_once(url: str, timeout_s: float) -> bytes:
    """The body of a 200 answer; raises _Transient or ValueError (permanent)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
            if response.status != 200 or not body:
                raise ValueError(f"HTTP {response.status}, {len(body)} bytes")
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            after = exc.headers.get("Retry-After", "") if exc.headers else ""
            wait = min(float(after), 30.0) if after.strip().isdigit() else 0.0
            raise _Transient(f"HTTP {exc.code}", wait) from exc
        raise ValueError(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, DNS, timeout
        raise _Transient(str(getattr(exc, "reason", exc))) from exc


@dataclass(frozen=True)
class Progress:
    """Where a seeding run stands."""

    total: int  # tiles in the area
    done: int  # stored (before or during this run)
    fetched: int  # fetched in this run
    failed: int
    requests: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.fetched / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class SeedResult:
    """The outcome of :func:`seed_tiles`."""

    total: int
    already: int  # in the cache before this run
    fetched: int
    failed: int
    requests: int
    seconds: float
    stopped: str = ""  # why the run ended early ("" = it went through every tile)
    failures: tuple[tuple[TileKey, str], ...] = ()  # the first few, for the summary

    @property
    def complete(self) -> bool:
        return self.already + self.fetched == self.total


def seed_tiles(
    cache: TileCache,
    url_template: str,
    keys: list[TileKey],
    *,
    rate: float = 4.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    timeout_s: float = 10.0,
    progress: Callable[[Progress], None] | None = None,
    progress_every_s: float = 1.0,
) -> SeedResult:
    """Fetch every tile of ``keys`` missing from ``cache``; each stored as soon as it arrives.

    A transient failure is retried ``retries`` times after ``backoff_s``, doubling; a tile
    that keeps failing is counted and skipped. Ctrl+C, or :data:`GIVE_UP_AFTER` failures in a
    row, ends the run early with everything fetched so far kept.
    """
    started = time.monotonic()
    stored = {z: cache.stored(z) for z in {k[0] for k in keys}}
    todo = [k for k in keys if (k[1], k[2]) not in stored[k[0]]]
    already = len(keys) - len(todo)
    limiter = RateLimiter(rate)
    fetched = failed = requests = in_a_row = 0
    failures: list[tuple[TileKey, str]] = []
    stopped = ""
    last_report = started

    def report() -> None:
        if progress is not None:
            elapsed = time.monotonic() - started
            progress(Progress(len(keys), already + fetched, fetched, failed, requests, elapsed))

    try:
        for key in todo:
            url = url_template.format(z=key[0], x=key[1], y=key[2], s="a")
            error = ""
            for attempt in range(retries + 1):
                limiter.wait()
                requests += 1
                try:
                    data = _fetch_once(url, timeout_s)
                except _Transient as exc:
                    error = str(exc)
                    if attempt < retries:
                        time.sleep(max(backoff_s * 2**attempt, exc.retry_after_s))
                    continue
                except ValueError as exc:
                    error = str(exc)
                    break
                cache.put(*key, data)
                fetched += 1
                error = ""
                break
            if error:
                failed += 1
                in_a_row += 1
                if len(failures) < 5:
                    failures.append((key, error))
                log.debug("tile %s/%s/%s failed: %s", *key, error)
                if in_a_row >= GIVE_UP_AFTER:
                    stopped = f"{in_a_row} tiles in a row failed (last: {error}); source down?"
                    break
            else:
                in_a_row = 0
            if progress is not None and time.monotonic() - last_report >= progress_every_s:
                last_report = time.monotonic()
                report()
    except KeyboardInterrupt:
        stopped = "interrupted"
    report()
    if fetched:
        _widen_metadata(cache, keys)
    return SeedResult(
        len(keys),
        already,
        fetched,
        failed,
        requests,
        time.monotonic() - started,
        stopped,
        tuple(failures),
    )


def _widen_metadata(cache: TileCache, keys: list[TileKey]) -> None:
    """Grow the cache's minzoom/maxzoom to cover ``keys`` (MBTiles metadata)."""
    meta = cache.metadata()
    zooms = [k[0] for k in keys]
    low, high = min(zooms), max(zooms)
    if "minzoom" in meta and meta["minzoom"].isdigit():
        low = min(low, int(meta["minzoom"]))
    if "maxzoom" in meta and meta["maxzoom"].isdigit():
        high = max(high, int(meta["maxzoom"]))
    cache.set_metadata(minzoom=low, maxzoom=high)
