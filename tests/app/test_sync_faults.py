"""Fault drills against real services: nothing lost, nothing applied twice, conflicts exact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sync.pgserver import ThrowawayPostgres, postgres_bindir
from bench.drills.offline import drill_commit_cuts, drill_database_restarts, drill_local_kills

# DISPATCH_DRILL_SCALE=0.2 runs every drill at a fifth of its count (CI on a slow machine).
SCALE = float(os.environ.get("DISPATCH_DRILL_SCALE", "1"))


def scaled(count: int) -> int:
    return max(2, round(count * SCALE))


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A private PostgreSQL this test may kill and restart."""
    if postgres_bindir() is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): install the postgresql package")
    with ThrowawayPostgres() as server:
        yield server


@pytest.mark.postgres
@pytest.mark.slow
def test_database_killed_while_two_desks_edit(own_postgres, tmp_path: Path) -> None:
    """Two desks make 200 edits while the database is killed 5 times: all land once, and
    the conflicts are exactly the edits both made to the same route while it was down."""
    result = drill_database_restarts(own_postgres, tmp_path, edits=scaled(200) // 20 * 20 or 20)
    assert (result.lost, result.duplicated, result.overwritten) == (0, 0, 0)
    assert result.conflicts_surfaced == result.conflicts_expected > 0


@pytest.mark.postgres
@pytest.mark.slow
def test_connection_cut_after_commit_never_duplicates(postgres_url: str, tmp_path: Path) -> None:
    """The connection dies right after COMMIT 50 times: the retry skips, never repeats."""
    result = drill_commit_cuts(postgres_url, tmp_path, cuts=scaled(50))
    assert (result.lost, result.duplicated, result.conflicts_surfaced) == (0, 0, 0)
    assert result.overwritten == 0


@pytest.mark.slow
def test_killed_workstation_keeps_acknowledged_edits(tmp_path: Path) -> None:
    """A desk SIGKILLed mid-write 50 times: the local copy is intact, no acknowledged edit lost."""
    result = drill_local_kills(tmp_path, kills=scaled(50))
    assert result.integrity_failures == 0
    assert result.lost == 0
