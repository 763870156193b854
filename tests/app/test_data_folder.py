"""The data folder holds customers' names, addresses and movements: the user's alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.settings import user_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(path))
    monkeypatch.setattr("app.settings._secured", set())
    return path


def test_a_new_data_folder_and_everything_in_it_is_private(data_dir):
    """dispatch.sqlite3 was 0644 in a 0755 folder; its WAL/SHM, the tile cache and the
    broker's state are now 0600 in 0700 folders."""
    from app.store import open_store
    from app.telemetry.broker import EmbeddedBroker
    from app.tiles.mbtiles import TileCache

    folder = user_data_dir()
    store = open_store(f"sqlite:///{folder / 'dispatch.sqlite3'}")
    tiles = TileCache(folder / "tiles" / "cache.mbtiles")
    tiles.put(1, 0, 0, b"png")  # writes: the WAL and SHM files exist now
    broker = EmbeddedBroker(state_dir=folder / "broker").start()
    try:
        with store.session() as s:
            s.execute(__import__("sqlalchemy").text("SELECT 1"))
        made = sorted(p for p in folder.rglob("*"))
        assert {p.name for p in made} >= {
            "dispatch.sqlite3",
            "dispatch.sqlite3-wal",
            "dispatch.sqlite3-shm",
            "cache.mbtiles",
            "cache.mbtiles-wal",
            "broker-users.txt",
        }
        assert mode(folder) == 0o700
        loose = {str(p): oct(mode(p)) for p in made if mode(p) & 0o077}
        assert not loose, loose
    finally:
        broker.stop()
        tiles.close()
        store.close()


def test_an_older_folder_left_readable_is_made_private_at_start(data_dir):
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    old = data_dir / "dispatch.sqlite3"
    old.write_bytes(b"")
    old.chmod(0o644)
    (data_dir / "map").mkdir(mode=0o755)
    user_data_dir()
    assert mode(data_dir) == 0o700 and mode(old) == 0o600 and mode(data_dir / "map") == 0o700


def test_a_shared_folder_is_left_alone(tmp_path, monkeypatch, caplog):
    """DISPATCH_DATA_DIR=/tmp must not chmod /tmp or what others keep there."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    other = shared / "someone-elses.txt"
    other.write_text("x")
    other.chmod(0o644)
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(shared))
    monkeypatch.setattr("app.settings._secured", set())
    assert user_data_dir() == shared
    assert mode(shared) == 0o1777 and mode(other) == 0o644
    assert "open to other users" in caplog.text
