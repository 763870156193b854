"""Engines for SQLite and PostgreSQL, the session that reports stale writes, and ``Store``.

SQLite follows the pysqlite recipe from the SQLAlchemy docs: the driver's own transaction
handling is switched off and SQLAlchemy's ``begin`` event issues ``BEGIN IMMEDIATE``, so a
writer takes the write lock up front and waits (``busy_timeout``) instead of failing
half-way. Read-only sessions (``Store.read_session``) begin ``DEFERRED`` and never block.

The writers of one process take turns (``_WriterTurns``) before SQLite's lock: the main
thread's first, then the others in the order they asked. SQLite's busy handler polls with
growing sleeps, so a writer that commits and begins again at once (the telemetry writer at
2,000 vehicles) took the lock back every time and another thread's write failed after
``busy_timeout`` with "database is locked" (exception changes, departures and rule firings
were lost that way); and a window's write waiting behind the background writers' queue
froze the window meanwhile.
"""

from __future__ import annotations

import bisect
import logging
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import StaticPool

from app.secrets import redact_url
from app.settings import private_file
from app.store.errors import StaleVersionError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # NORMAL may lose the last commits on power loss
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def create_store_engine(url: str) -> Engine:
    """An engine for a ``sqlite:///PATH`` or ``postgresql+psycopg://...`` URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(
            redact_url(f"database URL {url!r} is not a valid SQLAlchemy URL: {exc}")
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we ship
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(
        f"database URL {parsed.render_as_string(hide_password=True)!r}: unsupported database "
        f"{backend!r}; use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    )


class _WriterTurns:
    """A turn for the write transactions of one process on one SQLite database: the main
    thread's writers first (a person's command, a rule's firing: the window waits for
    them), then the others in the order they asked (a ticket lock; re-entrant for the
    thread holding it). A writer that waits longer than ``give_up_s`` goes on to SQLite's
    own lock (and its busy timeout)."""

    def __init__(self, give_up_s: float) -> None:
        self._cond = threading.Condition()
        self._next = 0  # the next ticket to hand out
        self._waiting: list[tuple[int, int]] = []  # (0 main thread / 1 other, ticket), sorted
        self._owner: int | None = None
        self._depth = 0
        self._give_up_s = give_up_s

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            mine = (0 if threading.current_thread() is threading.main_thread() else 1, self._next)
            self._next += 1
            bisect.insort(self._waiting, mine)
            got = self._cond.wait_for(
                lambda: self._owner is None and self._waiting[0] == mine, self._give_up_s
            )
            self._waiting.remove(mine)
            if not got:
                self._cond.notify_all()  # the one behind may be first now
                log.warning("a write waited %.0f s for its turn; going on to SQLite's lock",
                            self._give_up_s)  # fmt: skip
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        """End one turn (from the connection that took it: its transaction may end on
        another thread than the one that began it)."""
        with self._cond:
            if self._depth == 0:
                return
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


_TURNS: dict[str, _WriterTurns] = {}
_TURNS_LOCK = threading.Lock()


def _writer_turns(url: URL) -> _WriterTurns:
    """One queue of writers per database file in this process (every engine on it)."""
    key = str(url) if _is_memory(url) else str(Path(url.database or "").expanduser().resolve())
    with _TURNS_LOCK:
        turns = _TURNS.get(key)
        if turns is None:
            turns = _TURNS[key] = _WriterTurns(give_up_s=BUSY_TIMEOUT_MS / 1000)
        return turns


#: Rows per INSERT statement when SQLAlchemy writes many rows with RETURNING (the
#: telemetry writer's breadcrumbs: one statement of N rows' values). SQLite's driver keeps
#: the last 128 statements it prepared per connection, and each batch's last statement has
#: a row count of its own. Writing 150 batches of 1,000-2,500 fixes, the writer's process
#: grew 37 MB at SQLAlchemy's 1,000 rows a statement and 15 MB at 100, in as much time per
#: batch (the window at 2,000 vehicles held some 21 MB of prepared statements).
SQLITE_INSERT_ROWS = 100


def _sqlite_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        "insertmanyvalues_page_size": SQLITE_INSERT_ROWS,
    }
    if _is_memory(url):
        kwargs["poolclass"] = StaticPool  # one shared connection, or each sees its own DB
    else:
        path = Path(url.database or "").expanduser()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_file(path)  # customers' names and addresses: the user's alone (WAL/SHM too)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin event issues BEGIN
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    turns = _writer_turns(url)
    holding = "dispatch_writer_turn"  # in the connection's info while it holds a turn

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode != "DEFERRED" and turns.acquire():
            connection.info[holding] = True
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except Exception:
            _end_turn(connection)
            raise

    def _end_turn(connection: Any) -> None:
        if connection.info.pop(holding, False):
            turns.release()

    # The turn ends as the transaction ends: SQLAlchemy's commit and rollback events come
    # just before the driver's commit or rollback, so the next writer's BEGIN IMMEDIATE may
    # wait a moment in SQLite's busy handler, but the one who ended cannot take it back.
    # A connection checked in still holding a turn (its transaction ended by the pool)
    # ends it too.
    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        _end_turn(connection)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        _end_turn(connection)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(holding, False):
            turns.release()

    return engine


class StoreSession(Session):
    """A Session whose stale writes raise ``StaleVersionError`` naming both versions."""

    def flush(self, objects: Any = None) -> None:
        candidates = _versioned(list(self.dirty) + list(self.deleted))
        try:
            super().flush(objects)
        except StaleDataError as exc:
            raise _stale_error(self, candidates, exc) from exc

    def merge(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        candidates = _versioned([instance])
        try:
            return super().merge(instance, *args, **kwargs)
        except StaleDataError as exc:
            raise _stale_error(self, candidates, exc) from exc


def _versioned(objects: list[Any]) -> list[tuple[Any, Any, tuple[Any, ...], int | None]]:
    """(mapper, version column, primary key, version this session based its write on)."""
    out = []
    for obj in objects:
        state = inspect(obj)
        mapper = state.mapper
        column = mapper.version_id_col
        if column is None or state.identity is None:
            continue
        prop = mapper.get_property_by_column(column)
        history = state.attrs[prop.key].history
        base = (history.deleted or history.unchanged or history.added or [None])[0]
        out.append((mapper, column, state.identity, base))
    return out


def _entity_name(class_name: str) -> str:
    """``VehiclePositionRow`` -> ``vehicle_position``: how errors and the change log say it."""
    base = class_name.removesuffix("Row")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()


def _stale_error(
    session: Session, candidates: list[Any], exc: StaleDataError
) -> StaleVersionError | StaleDataError:
    """Find the row whose stored version differs from the one the write was based on."""
    bind = session.get_bind()
    with bind.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="DEFERRED")  # we may hold the write lock
        for mapper, column, identity, base in candidates:
            pk = mapper.primary_key
            query = select(column).where(*(c == v for c, v in zip(pk, identity, strict=True)))
            actual = conn.execute(query).scalar_one_or_none()
            if actual != base:
                ident = "/".join(str(v) for v in identity)
                entity = _entity_name(mapper.class_.__name__)
                log.warning("stale write to %s %s: based on v%s, stored v%s",
                            entity, ident, base, actual)  # fmt: skip
                return StaleVersionError(entity, ident, base, actual)
    return exc


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Store:
    """The database: an engine plus sessions that commit at exit and roll back on error.

    ``clock`` says when a write happened (the change log's ``at``, a proposal's times, an
    order's cancellation): the wall clock unless the desk sets its day's clock (the demo's
    simulated one), so what a person reads of a change agrees with the clock they see."""

    def __init__(self, engine: Engine, url: str, *, workstation: str | None = None) -> None:
        self.engine = engine
        self.url = url
        self.workstation = workstation or socket.gethostname()
        self.clock: Callable[[], datetime] = wall_clock
        info: dict[str, Any] = {"workstation": self.workstation, "now": self.now}
        self._writer = sessionmaker(engine, class_=StoreSession, expire_on_commit=False, info=info)
        self._reader = sessionmaker(
            engine.execution_options(sqlite_begin="DEFERRED"),
            class_=StoreSession,
            expire_on_commit=False,
            info=info,
        )

    def now(self) -> datetime:
        """The time of a write on this store's clock (aware, UTC)."""
        return self.clock().astimezone(UTC)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read transaction that never waits for a writer (SQLite: ``BEGIN DEFERRED``)."""
        with self._reader.begin() as session:
            yield session

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        shown = make_url(self.url).render_as_string(hide_password=True)
        return f"Store({shown!r})"


def serialize(session: Session, name: str) -> None:
    """Wait until no other transaction holds ``name``, and hold it until this one ends
    (PostgreSQL: a transaction advisory lock; SQLite writers are serialised already). Two
    desks starting together on an empty database seed it one after the other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(name.encode()) - 2**31
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
