"""Follow the shared change log: NOTIFY is the doorbell, ``read_changes`` is the truth.

A ``ChangeFollower`` runs one thread. On PostgreSQL it LISTENs on ``CHANNEL`` and reads the
change log from its cursor whenever a notification arrives, at least every ``poll_s``
seconds, and first thing after every (re)connect, so a killed listening connection delays
changes by at most one poll but never loses one. On SQLite (one workstation) it only polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.store import Store

if TYPE_CHECKING:
    import psycopg
from app.store.changelog import ChangeCursor, read_changes

log = logging.getLogger(__name__)

CHANNEL = "dispatch_change"

# The trigger that rings the bell ships with the schema (migration 0002): every transaction
# that writes the change log NOTIFYs ``CHANNEL`` once at COMMIT.
TRIGGER = "change_log_notify"


@dataclass(frozen=True)
class ChangeEvent:
    """One change-log row as a follower reports it."""

    id: int
    entity: str
    entity_id: str
    operation: str
    origin: str
    actor: str


def has_notify_trigger(engine: Engine) -> bool:
    """True when the change log NOTIFYs ``CHANNEL`` (the shipped migrations install it on
    PostgreSQL); always False on SQLite."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT 1 FROM pg_trigger WHERE tgname = %(name)s "
            "AND tgrelid = to_regclass('change_log')",
            {"name": TRIGGER},
        ).first()
    return found is not None


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeFollower:
    """Reports every change-log row committed after ``cursor`` to ``on_changes``, in order.

    ``on_changes`` runs on the follower's thread with a non-empty list of ``ChangeEvent``;
    ``on_status`` (optional) gets True/False when the shared database is reachable or not.
    """

    def __init__(
        self,
        store: Store,
        on_changes: Callable[[Sequence[ChangeEvent]], None],
        *,
        cursor: ChangeCursor | None = None,
        poll_s: float = 1.0,
        on_status: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.store = store
        self.on_changes = on_changes
        self.on_status = on_status
        self.poll_s = poll_s
        self.cursor = cursor
        self.listen_pid: int | None = None
        self.reconnects = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lock = threading.Lock()
        self._skip_first = False
        self._trigger_checked = False
        self._thread = threading.Thread(target=self._run, name="change-follower", daemon=True)

    @property
    def listening(self) -> bool:
        return self.store.dialect == "postgresql"

    def start(self, *, catch_up_first: bool = True) -> ChangeFollower:
        """Start following. Without a cursor, ``catch_up_first`` reports the whole existing
        log first; False skips it and reports only what commits from now on. Never waits
        for the database: an unreachable one is retried by the thread."""
        self._skip_first = self.cursor is None and not catch_up_first
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and close the listening connection."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._close()

    def poke(self) -> None:
        """Read the log now (e.g. after this workstation wrote)."""
        self._wake.set()

    def catch_up(self) -> list[ChangeEvent]:
        """Read everything committed since the cursor, report it, advance the cursor."""
        with self._lock:
            with self.store.read_session() as s:
                rows, cursor = read_changes(s, self.cursor)
                events = [
                    ChangeEvent(r.id, r.entity, r.entity_id, r.operation, r.origin, r.actor)
                    for r in rows
                ]
            if self._skip_first:
                self._skip_first, events = False, []
            if events:
                try:
                    self.on_changes(events)
                except Exception:
                    log.exception("change follower: the change handler failed")
            self.cursor = cursor
            return events

    # -- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.05
        online: bool | None = None
        while not self._stop.is_set():
            try:
                if self.listening and self._conn is None:
                    self._connect()
                self.catch_up()
                if online is not True:
                    online = True
                    self._status(True, "")
                backoff = 0.05
                self._wait()
            except Exception as exc:  # the shared database went away: catch up on return
                log.info("change follower: %s", exc)
                self._close()
                if online is not False:
                    online = False
                    self._status(False, str(exc).strip().splitlines()[0] if str(exc) else "")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.poll_s)

    def _status(self, online: bool, error: str) -> None:
        if self.on_status is not None:
            try:
                self.on_status(online, error)
            except Exception:
                log.exception("change follower: the status handler failed")

    def _connect(self) -> None:
        import psycopg

        if not self._trigger_checked:
            # No DDL here: the schema's migrations own the trigger. Without it (a database
            # not migrated to this version) changes still arrive, by the poll.
            if not has_notify_trigger(self.store.engine):
                log.warning(
                    "the shared database has no change-log trigger (its schema is older than "
                    "this workstation's): other workstations' changes arrive within %.0f s "
                    "instead of at once; start a workstation online to migrate it",
                    self.poll_s,
                )
            self._trigger_checked = True
        conn = psycopg.connect(_libpq_url(self.store.url), autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {CHANNEL}")
        self.listen_pid = conn.info.backend_pid
        self._conn = conn
        self.reconnects += 1

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("change follower: closing a broken connection", exc_info=True)

    def _wait(self) -> None:
        """Until a notification, a poke, a stop, or ``poll_s`` (the timer) passes."""
        deadline = time.monotonic() + self.poll_s
        if self._conn is None:
            self._wake.wait(self.poll_s)
            self._wake.clear()
            return
        while not self._stop.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # A short slice, so stop() and poke() are seen quickly; a dead connection raises.
            got = list(self._conn.notifies(timeout=min(left, 0.2), stop_after=1))
            if got:
                return
        self._wake.clear()
