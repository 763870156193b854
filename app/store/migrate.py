"""Apply the shipped Alembic migrations; no ``alembic.ini`` needed.

``upgrade(engine)`` brings an empty or older database to the newest schema and does nothing
on an up-to-date one. On PostgreSQL an advisory lock serialises workstations that start at
the same moment, so two of them never race to create the same tables.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine

from app.store.errors import SchemaError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x44_49_53_50  # an arbitrary constant: "DISP"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (for ``alembic.command``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this program ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="DEFERRED")
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest schema; returns the revision it is at."""
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None:
            try:
                scripts.get_revision(current)
            except CommandError as exc:
                raise SchemaError(
                    f"the database is at schema revision {current!r}, which this version of "
                    f"Dispatch Desk does not know (its newest is {scripts.get_current_head()!r}); "
                    "it was probably written by a newer version - update this workstation"
                ) from exc
        head = scripts.get_current_head()
        assert head is not None, "the store ships at least one migration"
        if current == head:
            return head
        log.info("migrating the database schema from %s to %s", current or "empty", head)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        if conn.dialect.name == "postgresql":  # grants and guards for every table (0008)
            secure = "SELECT to_regproc('dispatch_sec.secure_schema') IS NOT NULL"
            if conn.exec_driver_sql(secure).scalar():
                conn.exec_driver_sql("SELECT dispatch_sec.secure_schema()")
        return head


def require_current(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the database is at this version's schema (a desk on a
    shared database never migrates it: the administrator runs ``main.py db upgrade``)."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaError(
            f"the shared database is at schema revision {current or 'empty'}, this version "
            f"of Dispatch Desk needs {head}: an administrator runs `python main.py db upgrade`"
        )
