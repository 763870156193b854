"""Apply the shipped Alembic migrations; no ``alembic.ini`` needed.

``upgrade(engine)`` brings an empty or older database to the newest schema and does nothing
on an up-to-date one. On PostgreSQL an advisory lock serialises workstations that start at
the same moment, so two of them never race to create the same tables. An up-to-date
database is recognised from its ``alembic_version`` row and the shipped files' revision
lines alone: Alembic (about a second of a start) is imported only when there is work to do.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from app.store.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x44_49_53_50  # an arbitrary constant: "DISP"
# Alembic runs migrations through module-level proxies (``alembic.op``, ``alembic.context``):
# two threads of one process migrating two databases at once (a window opening its store
# while a background job opens another) would clash, so one migrates at a time.
_MIGRATING = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (for ``alembic.command``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this program ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="DEFERRED")
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest schema; returns the revision it is at."""
    head = _up_to_date(engine)
    if head is not None:
        return head
    with _MIGRATING:
        return _upgrade(engine)


def _upgrade(engine: Engine) -> str:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

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
    if _up_to_date(engine) is not None:
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaError(
            f"the shared database is at schema revision {current or 'empty'}, this version "
            f"of Dispatch Desk needs {head}: an administrator runs `python main.py db upgrade`"
        )


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*['\"]?([\w.-]+|None)['\"]?\s*$")


def shipped_head() -> str | None:
    """The newest shipped revision, read from the version files' ``revision`` and
    ``down_revision`` lines (no Alembic); None when the files do not say it plainly."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _REVISION_LINE.match(line)
            if match:
                found.setdefault(match.group(1), match.group(2))
        if "revision" in found:
            revisions.add(found["revision"])
            if found.get("down_revision", "None") != "None":
                parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _up_to_date(engine: Engine) -> str | None:
    """The head revision when the database is already at it, else None (then Alembic
    decides: an empty, older or unknown schema, or a question this cannot answer)."""
    head = shipped_head()
    if head is None:
        return None
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")  # a read: no write lock
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # no table yet, or no right to read it: Alembic's path says why
        return None
    return head if [tuple(r) for r in rows] == [(head,)] else None
