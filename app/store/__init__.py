"""The store: SQLAlchemy models, Alembic migrations and repositories over SQLite/PostgreSQL.

``open_store(url)`` opens (and migrates) the database; ``app.store.repository`` reads and
writes the domain types of ``engine.model`` through a ``Store.session()``.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from app.store.database import Store, create_store_engine
from app.store.errors import SchemaError, StaleVersionError
from app.store.migrate import upgrade

log = logging.getLogger(__name__)

__all__ = ["SchemaError", "StaleVersionError", "Store", "open_store"]


def open_store(url: str, *, workstation: str | None = None, migrate: bool = True) -> Store:
    """Open the database at ``url``, bring its schema to the newest revision, return it.

    ``url`` is ``sqlite:///PATH`` (WAL, ``synchronous=FULL``) or
    ``postgresql+psycopg://USER@HOST:PORT/DB``; ``workstation`` names this machine in the
    change log (default: the host name).
    """
    engine = create_store_engine(url)
    try:
        if migrate:
            upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    log.info("store open: %s", make_url(url).render_as_string(hide_password=True))
    return Store(engine, url, workstation=workstation)
