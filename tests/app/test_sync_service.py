"""The background sync: one desk's edit reaches the other desk's local copy by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sync.service import SyncService
from app.sync.status import SyncStatus
from app.sync.status_signal import SyncStatusSignal
from bench.drills.faults import wait_for
from tests.app.test_sync_support import desk, orders, rotated, shared_store


@pytest.mark.postgres
def test_edit_on_one_desk_reaches_the_other_local_copy(postgres_url: str, tmp_path: Path) -> None:
    """Desk B's edit lands on the shared database and in desk A's local copy unasked."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    services = [SyncService(a, retry_s=0.5).start(), SyncService(b, retry_s=0.5).start()]
    try:
        new = rotated(orders(b.local)["R4"])
        b.execute({"R4": new}, actor="bob")
        services[1].poke()
        wait_for(lambda: orders(shared)["R4"] == new, 30, "the edit to reach the shared database")
        wait_for(lambda: orders(a.local)["R4"] == new, 30, "desk A's copy to catch up")
        assert a.status().online and b.status().pending == 0
    finally:
        for service in services:
            service.stop()
        for d in (a, b):
            d.close()
            d.local.close()


def test_status_signal_carries_the_status_bar_text() -> None:
    """The status bar's signal carries what to show: offline and the waiting edits."""
    got: list[SyncStatus] = []
    signal = SyncStatusSignal()
    signal.changed.connect(got.append)
    signal.publish(SyncStatus(online=False, pending=3, last_error="connection refused"))
    assert [s.text for s in got] == ["offline - 3 edits waiting"]
    assert signal.last == got[0]
