"""The store's schema: migrations on start, SQLite settings, and clear refusals."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from app.store import SchemaError, open_store
from app.store.migrate import current_revision, head_revision
from app.store.models import Base, DepotRow

EXPECTED_TABLES = {
    "depot", "dock", "vehicle", "driver", "driver_break", "orders", "order_window", "plan",
    "route", "stop", "plan_unassigned", "vehicle_position", "breadcrumb", "stop_event",
    "exception", "change_log", "outbox", "device_map",
}  # fmt: skip


def test_migrations_create_every_table(store):
    """Opening an empty database creates every table of the models, at the newest revision."""
    tables = set(inspect(store.engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    assert set(Base.metadata.tables) <= tables
    assert current_revision(store.engine) == head_revision()


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8'")
def test_schema_matches_models(store):
    """The shipped migration builds exactly the tables, columns, indexes and constraints
    the models declare (no drift a later migration would trip over)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_is_a_no_op(store_url):
    """Opening an up-to-date database again changes nothing and keeps the data."""
    first = open_store(store_url)
    with first.session() as s:
        s.execute(text("CREATE TABLE marker (x integer)"))
    first.close()
    again = open_store(store_url)
    try:
        assert "marker" in inspect(again.engine).get_table_names()
        assert current_revision(again.engine) == head_revision()
    finally:
        again.close()


def test_unknown_schema_revision_is_refused_clearly(store):
    """A database written by a newer version is refused with a message saying so."""
    with store.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(SchemaError, match="ffff_future.*newer version"):
        open_store(store.url)


def test_sqlite_pragmas_are_set(tmp_path):
    """The embedded database runs in WAL mode with synchronous=FULL, a busy timeout and FKs."""
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}")
    try:
        with store.session() as s:
            pragma = lambda name: s.execute(text(f"PRAGMA {name}")).scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2
            assert pragma("busy_timeout") >= 1000
            assert pragma("foreign_keys") == 1
        assert (tmp_path / "desk.sqlite3").exists()
    finally:
        store.close()


def test_sqlite_creates_missing_parent_directory(tmp_path):
    """A fresh user data directory is created on first start."""
    path = tmp_path / "new" / "dir" / "desk.sqlite3"
    open_store(f"sqlite:///{path}").close()
    assert path.exists()


def test_unsupported_url_is_refused_clearly():
    """A URL of a database we do not support names the URL and what to use instead."""
    with pytest.raises(ValueError, match="unsupported database 'mysql'.*sqlite:///"):
        open_store("mysql://u@localhost/db")


def test_naive_datetime_is_refused(store):
    """A time without a zone never reaches the database: the error says what to do."""
    with pytest.raises(StatementError, match="naive datetime.*time zone") as err:
        _add_naive_depot(store)
    assert isinstance(err.value.orig, ValueError)


def _add_naive_depot(store) -> None:
    with store.session() as s:
        s.add(DepotRow(id="X", name="x", lat=0.0, lon=0.0, timezone="UTC", address="",
                       updated_at=datetime(2026, 1, 1), updated_by="t"))  # fmt: skip
        s.flush()


def test_plain_postgresql_urls_use_psycopg_3():
    """``postgresql://`` and ``postgres://`` URLs (as other tools write them) use psycopg 3."""
    from app.store.database import create_store_engine

    for url in ("postgresql://u@db.example/dispatch", "postgres://u@db.example/dispatch"):
        engine = create_store_engine(url)
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        engine.dispose()


def test_in_memory_sqlite_works_for_quick_runs():
    """``sqlite://`` gives a migrated in-memory store whose foreign keys hold too."""
    store = open_store("sqlite://")
    try:
        with pytest.raises(IntegrityError, match="FOREIGN KEY"), store.session() as s:
            s.execute(text("INSERT INTO device_map VALUES ('d', 'nope', '2026-01-01', 1)"))
        with store.session() as s:
            assert s.execute(text("SELECT count(*) FROM depot")).scalar() == 0
    finally:
        store.close()
