"""The window's collector policy: short young collections, the long-lived heap frozen,
and garbage made afterwards still collected (nothing leaks because of the freeze)."""

from __future__ import annotations

import gc
import weakref

import pytest

from app.jobs.heap import YOUNG_THRESHOLD, HeapKeeper


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
