"""Migrations on PostgreSQL: the change-log doorbell ships with the schema."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.store import open_store
from app.store.changelog import log_change
from app.store.migrate import current_revision, head_revision
from app.sync.follower import CHANNEL, has_notify_trigger


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
def test_a_migrated_database_notifies_every_change(postgres_url: str) -> None:
    """Right after migration (no follower ever ran on it) a committed change-log write
    rings the bell on the channel other workstations listen to; nothing is rung for a
    transaction that rolls back."""
    store = open_store(postgres_url, workstation="desk-1")
    try:
        assert has_notify_trigger(store.engine)
        with psycopg.connect(_libpq(postgres_url), autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            with pytest.raises(RuntimeError), store.session() as s:
                log_change(s, "route", "R1", "update", actor="ann")
                s.flush()
                raise RuntimeError("rolled back")
            assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
            with store.session() as s:
                for rid in ("R1", "R2", "R3"):
                    log_change(s, "route", rid, "update", actor="ann")
            started = time.monotonic()
            got = list(listener.notifies(timeout=5, stop_after=1))
            assert got and got[0].channel == CHANNEL
            assert time.monotonic() - started < 1.0
    finally:
        store.close()


def test_sqlite_migrates_to_the_same_head_without_a_trigger(tmp_path: Path) -> None:
    """The doorbell migration is PostgreSQL's alone: SQLite reaches the same revision."""
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}")
    try:
        assert current_revision(store.engine) == head_revision()
        assert not has_notify_trigger(store.engine)
        with store.engine.connect() as conn:
            triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            assert list(triggers) == []
    finally:
        store.close()
