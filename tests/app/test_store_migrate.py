"""Migrations on PostgreSQL: the change-log doorbell ships with the schema, and
workstations first-starting together on an empty database migrate it once, in turn."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from app.store import open_store
from app.store.changelog import log_change
from app.store.migrate import current_revision, head_revision
from app.sync.follower import CHANNEL, has_notify_trigger

ROOT = Path(__file__).resolve().parents[2]


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


_START = """
import sys, time
from app.store import open_store
from app.store.migrate import current_revision
go = float(sys.argv[2])
time.sleep(max(0.0, go - time.time()))
store = open_store(sys.argv[1], workstation=sys.argv[3])
print(current_revision(store.engine))
store.close()
"""


@pytest.mark.postgres
def test_workstations_first_starting_together_migrate_once(postgres_url: str) -> None:
    """Four workstation processes open the same empty PostgreSQL database at the same
    instant: every one starts (none trips over another's half-made tables) and the
    schema is there once, at the newest revision, with its trigger."""
    go = time.time() + 3.0  # all four import first, then open at this instant
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, postgres_url, str(go), f"desk-{i}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    errors = [err for p, (_out, err) in zip(procs, results, strict=True) if p.returncode]
    assert errors == []
    assert [out.strip() for out, _err in results] == [head_revision()] * 4
    store = open_store(postgres_url, migrate=False)
    try:
        with store.engine.connect() as conn:
            versions = list(conn.execute(text("SELECT version_num FROM alembic_version")))
            assert versions == [(head_revision(),)]
            triggers = conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = 'change_log_notify'")
            ).scalar_one()
        assert triggers == 1
        assert "change_log" in inspect(store.engine).get_table_names()
    finally:
        store.close()


@pytest.mark.postgres
def test_threads_first_starting_together_migrate_once(postgres_url: str) -> None:
    """The same with eight threads of one process released by one barrier."""
    barrier = threading.Barrier(8)
    revisions: list[str] = []
    failures: list[BaseException] = []

    def start(i: int) -> None:
        try:
            barrier.wait(10)
            store = open_store(postgres_url, workstation=f"desk-{i}")
            revisions.append(current_revision(store.engine))
            store.close()
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert revisions == [head_revision()] * 8


def test_an_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    """A restart on a database at the newest schema does not load Alembic (about a second
    of a start; an unknown revision still goes through it: tests/app/test_store_schema.py)."""
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    open_store(url).close()
    script = (
        "import sys; from app.store import open_store;"
        f"open_store({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    assert out.stdout.split() == ["False"]


def test_two_threads_migrate_two_databases_at_once(tmp_path):
    """A window opening its store while a background job opens another: both databases
    reach the newest schema (Alembic's module-level proxies are shared by the threads)."""
    import threading

    from sqlalchemy import create_engine

    from app.store.migrate import head_revision, upgrade

    engines = [create_engine(f"sqlite:///{tmp_path / f'desk{i}.sqlite3'}") for i in range(4)]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = upgrade(engines[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == {i: head_revision() for i in range(4)}
    for e in engines:
        e.dispose()
