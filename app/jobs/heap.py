"""Short garbage-collector pauses for a window that runs all day.

CPython's cycle collector holds the interpreter lock for a whole pass, and a full pass
walks every tracked object: in the workstation that is the day's orders, plan, street
network and Qt wrappers — a few hundred thousand objects that live all day — so a full
pass stalls the main thread for a tenth of a second or more, whichever thread starts it.

:class:`HeapKeeper` (1) raises the young-generation threshold, so the live monitor's tens
of thousands of short-lived ETA objects per pass trigger a few cheap young collections
instead of hundreds, and (2) after each background job, and every few minutes, collects
the young generations and freezes what survives (``gc.freeze``): the long-lived heap
moves out of the collector's walk. Garbage is still freed by reference counting as usual;
only reference cycles that were already unreachable when a freeze happened stay until
the process ends, and the young collection just before each freeze keeps those few.

(3) On Linux each settle also hands the C heap's free pages back to the system
(glibc's ``malloc_trim``): a plan, a re-plan or a KPI pass frees tens of megabytes in the
middle of the heap and its threads' arenas, which ``free`` keeps mapped; on the
2,000-vehicle live day that was 38 MB of the window's resident memory; between settles
the free pages are handed back every minute too (no freeze). (4) It empties
``linecache``, where PySide6 leaves the source lines of the modules imported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import linecache
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from app.jobs.runner import JobKind, JobRunner

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython default: 700)
SETTLE_EVERY_MS = 5 * 60_000
#: Between settles the C heap's free pages are also handed back every minute (trim alone).
TRIM_EVERY_MS = 60_000
#: ... and every 20 s over the first minutes, when the day's opening work (the first ETA
#: pass, the gate, the street traces) frees the most.
TRIM_EARLY_MS, TRIM_EARLY_FOR_MS = 20_000, 3 * 60_000


#: glibc's ``mallopt`` parameters (malloc.h).
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
#: Threads' allocations share this many C heaps (glibc's default: eight per core).
ARENA_MAX = 2
#: Allocations of this size or more get their own pages, handed back when freed.
MMAP_THRESHOLD = 256 * 1024


def tune_malloc() -> bool:
    """Fewer, fuller C heaps for a window that runs all day (glibc; False elsewhere). Call
    before any thread starts.

    glibc gives threads their own heaps ("arenas"), up to eight per core, and keeps each
    one's high-water mark as room between live chunks that ``malloc_trim`` cannot return
    (a page is returned only when nothing on it is live). The live day's threads (ingest,
    ETAs, the release loop, the pool's plans and re-plans) each left an arena of 5-53 MB on
    the 2,000-vehicle day. Two arenas share that room. And glibc raises its "own pages"
    threshold to the largest block freed so far (up to 32 MB): after a re-plan's matrices
    are freed, every later block up to that size comes from the heaps and fragments them; a
    fixed threshold keeps large blocks on their own pages."""
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def _glibc(name: str, argtypes: list[Any]) -> Callable[..., int] | None:
    """glibc's function ``name`` returning an int (None elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: macOS, Windows, musl)."""
    return _glibc("malloc_trim", [ctypes.c_size_t])


class HeapKeeper(QObject):
    """Keeps the collector's passes short; ``settle()`` after heavy work (cheap)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
        self._timer = QTimer(self)
        self._timer.setInterval(SETTLE_EVERY_MS)
        self._timer.timeout.connect(self.settle)
        self._timer.start()
        self.settles = 0
        self._trim = _malloc_trim()
        self.trims = 0
        # The live day's threads (ingest, ETAs, the release loop) free tens of megabytes of
        # the C heap a minute in its middle, which ``free`` keeps: on the 2,000-vehicle
        # live day the window held some 40 MB more until the 5-minute settle gave it back.
        # Trimming every minute does it sooner; unlike a settle it freezes nothing.
        self._trim_timer = QTimer(self)
        self._trim_timer.setInterval(TRIM_EARLY_MS)
        self._trim_timer.timeout.connect(self.trim)
        self._trims_early = TRIM_EARLY_FOR_MS // TRIM_EARLY_MS
        if self._trim is not None:
            self._trim_timer.start()
        self._jobs: list[JobRunner] = []
        #: Called at each settle and each trim, before the heap is handed back: caches that
        #: let go of what nobody used for a while (the street travel's junction results).
        self.releasers: list[Callable[[], object]] = []

    def settle(self) -> None:
        """Collect the young generations, freeze the survivors and give the C heap's free
        pages back to the system (a few ms)."""
        t0 = time.perf_counter()
        # PySide6 reads the source of every module that imports anything once it is
        # loaded (its check for ``from __feature__ import``), and the lines stay in
        # ``linecache``: some 900,000 lines in the window, about 70 MB held all day. A
        # traceback reads its few files again.
        linecache.clearcache()
        self._release()
        gc.collect(1)
        gc.freeze()
        if self._trim is not None:
            self._trim(0)
        self.settles += 1
        if log.isEnabledFor(logging.DEBUG):  # counting the frozen objects walks them all
            log.debug(
                "heap settled in %.1f ms; %d objects frozen",
                (time.perf_counter() - t0) * 1000,
                gc.get_freeze_count(),
            )

    def _release(self) -> None:
        for release in self.releasers:
            try:
                release()
            except Exception:  # a cache that cannot let go keeps its memory, nothing worse
                log.exception("heap: releasing a cache failed")

    def trim(self) -> None:
        """Hand the C heap's free pages back to the system (glibc; nothing elsewhere), after
        the caches let go of what went unused (``releasers``: on the 2,000-vehicle day the
        junction results, 46 MB, are idle from the third minute; waiting for a settle kept
        them up to ten minutes), and let go of the source lines PySide6 read since (see
        ``settle``): a module imported on the live day (the street search's scipy modules:
        some 230,000 lines) filled ``linecache`` again, held until the next settle."""
        self._release()
        if linecache.cache:
            linecache.clearcache()
        if self._trim is not None:
            t0 = time.perf_counter()
            self._trim(0)
            self.trims += 1
            if self.trims == self._trims_early:
                self._trim_timer.setInterval(TRIM_EVERY_MS)
            log.debug("C heap trimmed in %.1f ms", (time.perf_counter() - t0) * 1000)

    def follow(self, jobs: JobRunner) -> HeapKeeper:
        """Also settle whenever every runner followed has finished its last background
        job (the day's jobs, the KPI pane's)."""
        self._jobs.append(jobs)
        jobs.sig_job_finished.connect(self._settle_when_idle)
        return self

    def _settle_when_idle(self, _kind: JobKind) -> None:
        if all(jobs.is_idle() for jobs in self._jobs):
            self.settle()
