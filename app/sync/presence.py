"""Who is editing which route, across workstations (PostgreSQL NOTIFY, nothing stored).

Presence is ephemeral: each workstation announces what it edits on ``CHANNEL`` when it
starts or stops editing and again every ``heartbeat_s``; an entry not repeated within
``3 * heartbeat_s`` expires (a crashed or disconnected desk disappears by itself). A lost
notification is repaired by the next heartbeat; a (re)connected listener asks everybody to
announce again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from app.store import Store
from app.sync.follower import _libpq_url

log = logging.getLogger(__name__)

CHANNEL = "dispatch_presence"


@dataclass(frozen=True)
class Editor:
    """Someone editing a route right now."""

    workstation: str
    user: str
    route_id: str
    seen: float  # time.monotonic() of the last announcement
    routes: tuple[str, ...] = ()  # every route it edits (a drag: the source and the target)

    @property
    def route_ids(self) -> tuple[str, ...]:
        return self.routes or (self.route_id,)


class Presence:
    """Announce this desk's route being edited; know who else edits which route."""

    def __init__(
        self,
        store: Store,
        *,
        workstation: str,
        user: str,
        heartbeat_s: float = 5.0,
        on_change: Callable[[dict[str, list[Editor]]], None] | None = None,
    ) -> None:
        self.store, self.workstation, self.user = store, workstation, user
        self.heartbeat_s = heartbeat_s
        self.on_change = on_change
        self._route: tuple[str, ...] | None = None
        self._others: dict[str, Editor] = {}  # workstation -> what it edits
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def start(self) -> Presence:
        """Start listening (PostgreSQL only: an embedded SQLite store has no other desks)."""
        if self.store.dialect == "postgresql":
            self._thread.start()
        return self

    def stop(self) -> None:
        """Say goodbye (best effort) and stop listening."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
            self._announce(None)

    def editing(self, route_id: str | tuple[str, ...] | None) -> None:
        """This desk now edits ``route_id`` (several: a drag's source and target; None:
        nothing)."""
        routes = (route_id,) if isinstance(route_id, str) else tuple(route_id or ())
        self._route = routes or None
        self._announce(self._route)

    def editors(self) -> dict[str, list[Editor]]:
        """route id -> the other desks editing it now."""
        limit = time.monotonic() - 3 * self.heartbeat_s
        with self._lock:
            out: dict[str, list[Editor]] = {}
            for e in self._others.values():
                if e.seen >= limit:
                    for rid in e.route_ids:
                        out.setdefault(rid, []).append(e)
            return out

    def _announce(self, routes: tuple[str, ...] | None, *, ask: bool = False) -> None:
        if self.store.dialect != "postgresql":
            return
        first = routes[0] if routes else None
        payload = json.dumps({"ws": self.workstation, "user": self.user, "route": first,
                              "routes": list(routes or ()), "ask": ask})  # fmt: skip
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})
                conn.commit()
        except Exception as exc:  # offline: the heartbeat tries again
            log.debug("presence: announce failed: %s", exc)

    def _receive(self, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("ws") == self.workstation:
            return
        if data.get("ask"):
            self._announce(self._route)
        with self._lock:
            if data.get("route"):
                routes = data.get("routes")
                routes = tuple(str(r) for r in routes) if isinstance(routes, list) else ()
                self._others[data["ws"]] = Editor(
                    data["ws"],
                    data.get("user", ""),
                    str(data["route"]),
                    time.monotonic(),
                    routes,
                )
            else:
                self._others.pop(data["ws"], None)
        if self.on_change is not None:
            self.on_change(self.editors())

    def _run(self) -> None:
        import psycopg

        conn = None
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(_libpq_url(self.store.url), autocommit=True)
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._announce(self._route, ask=True)  # and tell me what you edit
                if time.monotonic() >= next_beat:
                    if self._route is not None:
                        self._announce(self._route)
                    next_beat = time.monotonic() + self.heartbeat_s
                for note in conn.notifies(timeout=0.2, stop_after=1):
                    self._receive(note.payload)
            except Exception as exc:
                log.debug("presence: listener lost: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(1.0)
        if conn is not None:
            conn.close()
