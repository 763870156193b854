"""The window's collector policy: short young collections, the long-lived heap frozen,
garbage made afterwards still collected (nothing leaks because of the freeze), and the C
heap's freed pages given back to the system."""

from __future__ import annotations

import gc
import os
import sys
import weakref

import pytest

from app.jobs.heap import TRIM_EVERY_MS, YOUNG_THRESHOLD, HeapKeeper


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def keeper(qapp):
    threshold = gc.get_threshold()
    keeper = HeapKeeper()
    yield keeper
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_survivors_are_frozen_and_later_cycles_still_collected(keeper):
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    long_lived = [Node() for _ in range(1000)]
    before = gc.get_freeze_count()
    keeper.settle()
    assert gc.get_freeze_count() >= before + len(long_lived)
    assert keeper.settles == 1

    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only the collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None, "a cycle made after the freeze was not collected"
    assert all(isinstance(n, Node) for n in long_lived)  # frozen objects stay usable


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_settle_gives_freed_heap_memory_back_to_the_system(keeper):
    """Memory freed in the middle of the C heap (here 2 KB blocks, one in 40 kept, as a
    finished plan leaves it) stays resident until a settle hands it back."""
    blocks = [bytes(2000) for _ in range(60_000)]  # ~120 MB below the mmap threshold
    kept = blocks[::40]
    del blocks
    before = _rss_mb()
    keeper.settle()
    after = _rss_mb()
    assert before - after > 60, f"resident {before:.0f} MB -> {after:.0f} MB after a settle"
    assert len(kept) == 1500 and all(len(b) == 2000 for b in kept)


def test_a_settle_lets_go_of_the_source_lines_pyside_read(keeper):
    """Source lines read into ``linecache`` are let go at a settle: in the window PySide6
    reads there the source of every module that imports anything once it is loaded (it
    looks for ``from __feature__ import``), about 70 MB held all day."""
    import linecache

    assert linecache.getlines(__file__)
    keeper.settle()
    assert linecache.cache == {}


def test_a_settle_waits_for_every_runner_followed(keeper, qtbot):
    """The day's jobs and the KPI pane's run on runners of their own: the heap is settled
    once the last job of all of them has finished, not while a KPI pass still runs."""
    import threading

    from app.jobs.runner import JobKind, JobRunner

    day, kpis = JobRunner(), JobRunner()
    keeper.follow(day).follow(kpis)
    release = threading.Event()
    kpis.submit(JobKind.KPIS, lambda cancel, report: release.wait(30))
    with qtbot.waitSignal(day.sig_job_finished, timeout=10_000):
        day.submit(JobKind.PLAN, lambda cancel, report: 1)
    assert keeper.settles == 0, "settled while the KPI pass was still running"
    release.set()
    qtbot.waitUntil(lambda: keeper.settles == 1, timeout=10_000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_between_settles_without_a_freeze(keeper, qtbot):
    """Between the 5-minute settles the C heap's freed pages are handed back every
    minute (here sped up), and nothing is frozen for it."""
    assert TRIM_EVERY_MS == 60_000
    keeper._trim_timer.setInterval(20)
    blocks = [bytes(2000) for _ in range(60_000)]
    kept = blocks[::40]
    del blocks
    before, frozen = _rss_mb(), gc.get_freeze_count()
    qtbot.waitUntil(lambda: keeper.trims >= 1, timeout=5_000)
    assert before - _rss_mb() > 60
    assert gc.get_freeze_count() == frozen and keeper.settles == 0 and len(kept) == 1500


def test_a_trim_lets_go_of_source_lines_read_since_the_last_settle(keeper):
    """A module imported on the live day fills ``linecache`` again (PySide6 reads its
    source: the street search's scipy modules are some 230,000 lines); the trim between
    settles lets go of them too, instead of holding them until the next settle."""
    import linecache

    assert linecache.getlines(__file__)
    keeper.trim()
    assert linecache.cache == {}


def test_the_first_minutes_are_trimmed_more_often(keeper, qtbot):
    """The day's opening work frees the most: the trims come every 20 s at first, then
    every minute."""
    from app.jobs.heap import TRIM_EARLY_FOR_MS, TRIM_EARLY_MS

    if keeper._trim is None:
        pytest.skip("no malloc_trim here")
    assert keeper._trim_timer.interval() == TRIM_EARLY_MS == 20_000
    for _ in range(TRIM_EARLY_FOR_MS // TRIM_EARLY_MS):
        keeper.trim()
    assert keeper._trim_timer.interval() == TRIM_EVERY_MS


def test_a_settle_and_a_trim_ask_each_cache_to_let_go_and_survive_one_that_fails(keeper, caplog):
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("cannot")

    keeper.releasers += [failing, lambda: calls.append("travel")]
    keeper.settle()
    keeper.trim()  # between settles too: idle caches go within the minute
    assert calls == ["failing", "travel", "failing", "travel"]
    assert "releasing a cache failed" in caplog.text


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_FREED_BLOCK = r"""
import ctypes, sys
from app.jobs.heap import tune_malloc
tuned = sys.argv[1] == "tuned"
if tuned:
    assert tune_malloc()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

big = libc.malloc(16 << 20)  # a re-plan's matrix: freed, it raises glibc's own threshold
ctypes.memset(big, 1, 16 << 20)
libc.free(big)
block = libc.malloc(8 << 20)  # a later, smaller block
ctypes.memset(block, 1, 8 << 20)
held = anon_kb()
libc.free(block)
print(held - anon_kb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_large_block_freed_late_in_the_day_goes_back_to_the_system():
    """After a large block (a re-plan's matrices) is freed, glibc on its own serves later
    large blocks from its heaps and keeps their pages when they are freed; the window's
    tuning (``tune_malloc``, set before any thread starts) keeps each on its own pages,
    handed back the moment it is freed."""
    import subprocess

    def returned_kb(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _FREED_BLOCK, mode], capture_output=True,
                             text=True, check=True, cwd=ROOT)  # fmt: skip
        return int(out.stdout.split()[-1])

    assert returned_kb("tuned") > 7 * 1024  # the 8 MB went back
    assert returned_kb("default") < 1024  # the untuned heap kept them
