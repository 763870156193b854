"""The recorded day as one file: a self-describing SQLite database (format ``dispatch-day``).

One file holds everything of a depot's day — the day's input, every plan version, every
position fix, stop event, exception (raised, updated, acknowledged, resolved), command (a
person's or a rule's), rule firing and the rule set in force, and, for a day the digital
twin drove, the twin's seed and trouble. Times are epoch seconds (UTC) as REAL. The
tables are documented in ``docs/day-file.md``; any SQLite tool reads them.

``DayFileWriter`` writes a new file (to a temporary name, renamed when closed, so a file
that exists is complete). ``DayFile`` opens one read-only and checks it first: the format
and version, the tables and columns, the integrity of the database, and that the values
are of the documented types and ranges — a file from another desk is hostile until then.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "dispatch-day"
VERSION = 1

#: table -> (columns with their SQLite types), in order.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "meta": (("key", "TEXT PRIMARY KEY"), ("value", "TEXT NOT NULL")),
    "day_input": (("json", "TEXT NOT NULL"),),
    "orders_known": (("order_id", "TEXT NOT NULL"), ("known_at", "REAL NOT NULL")),
    "plan_versions": (
        ("version", "INTEGER PRIMARY KEY"),
        ("at", "REAL NOT NULL"),
        ("actor", "TEXT NOT NULL"),
        ("source", "TEXT NOT NULL"),
        ("command_id", "TEXT"),
        ("plan", "TEXT NOT NULL"),
    ),
    "fixes": (
        ("vehicle_id", "TEXT NOT NULL"),
        ("ts", "REAL NOT NULL"),
        ("lat", "REAL NOT NULL"),
        ("lon", "REAL NOT NULL"),
        ("speed_kmh", "REAL"),
        ("heading_deg", "REAL"),
    ),
    "events": (
        ("event_id", "TEXT NOT NULL"),
        ("vehicle_id", "TEXT NOT NULL"),
        ("ts", "REAL NOT NULL"),
        ("type", "TEXT NOT NULL"),
        ("stop_id", "TEXT"),
        ("reason", "TEXT"),
    ),
    "exceptions": (
        ("id", "TEXT PRIMARY KEY"),
        ("type", "TEXT NOT NULL"),
        ("severity", "TEXT NOT NULL"),
        ("vehicle_id", "TEXT"),
        ("order_id", "TEXT"),
        ("detected_at", "REAL NOT NULL"),
        ("acknowledged_at", "REAL"),
        ("acknowledged_by", "TEXT"),
        ("resolved_at", "REAL"),
        ("resolved_by", "TEXT"),
        ("detail", "TEXT"),
        ("suggested_action", "TEXT"),
        ("minutes_late", "REAL"),
    ),
    "exception_updates": (
        ("exception_id", "TEXT NOT NULL"),
        ("at", "REAL NOT NULL"),
        ("severity", "TEXT NOT NULL"),
        ("detail", "TEXT"),
        ("minutes_late", "REAL"),
    ),
    "commands": (
        ("id", "TEXT NOT NULL"),
        ("at", "REAL NOT NULL"),
        ("actor", "TEXT NOT NULL"),
        ("kind", "TEXT NOT NULL"),
        ("label", "TEXT"),
        ("rule_id", "TEXT"),
        ("rule_version", "INTEGER"),
        ("before", "TEXT"),
        ("after", "TEXT"),
    ),
    "rule_firings": (
        ("id", "TEXT PRIMARY KEY"),
        ("at", "REAL NOT NULL"),
        ("rule_id", "TEXT NOT NULL"),
        ("rule_version", "INTEGER NOT NULL"),
        ("mode", "TEXT NOT NULL"),
        ("action", "TEXT NOT NULL"),
        ("subject", "TEXT NOT NULL"),
        ("vehicle_id", "TEXT"),
        ("order_id", "TEXT"),
        ("status", "TEXT NOT NULL"),
        ("text", "TEXT NOT NULL"),
        ("moved", "TEXT NOT NULL"),
        ("lateness_before_s", "REAL"),
        ("lateness_after_s", "REAL"),
        ("command_id", "TEXT"),
    ),
    "rules": (
        ("rule_id", "TEXT NOT NULL"),
        ("version", "INTEGER NOT NULL"),
        ("depot_id", "TEXT"),
        ("json", "TEXT NOT NULL"),
    ),
    "dock_events": (
        ("dock_id", "TEXT"),
        ("ts", "REAL NOT NULL"),
        ("type", "TEXT NOT NULL"),
        ("json", "TEXT NOT NULL"),
    ),
}
INDEXES = (
    "CREATE INDEX ix_fixes_vehicle_ts ON fixes (vehicle_id, ts)",
    "CREATE INDEX ix_events_ts ON events (ts)",
    "CREATE INDEX ix_plan_versions_at ON plan_versions (at)",
)
#: Checks of the values, each a query that counts bad rows: (what, SQL).
CHECKS = (
    ("fixes: ts, lat, lon are numbers in range",
     "SELECT count(*) FROM fixes WHERE typeof(ts) NOT IN ('real','integer') "
     "OR typeof(lat) NOT IN ('real','integer') OR typeof(lon) NOT IN ('real','integer') "
     "OR lat < -90 OR lat > 90 OR lon < -180 OR lon > 180"),
    ("events: ts is a number, type and vehicle are text",
     "SELECT count(*) FROM events WHERE typeof(ts) NOT IN ('real','integer') "
     "OR typeof(type) != 'text' OR typeof(vehicle_id) != 'text'"),
    ("exceptions: detected_at is a number",
     "SELECT count(*) FROM exceptions WHERE typeof(detected_at) NOT IN ('real','integer')"),
    ("plan_versions: at is a number, plan is text",
     "SELECT count(*) FROM plan_versions WHERE typeof(at) NOT IN ('real','integer') "
     "OR typeof(plan) != 'text'"),
    ("rule_firings: at is a number",
     "SELECT count(*) FROM rule_firings WHERE typeof(at) NOT IN ('real','integer')"),
)  # fmt: skip
MAX_BYTES = 4 * 1024**3


class DayFileError(ValueError):
    """A file that is not a readable recorded day; the message says what is wrong."""


def _create(conn: sqlite3.Connection) -> None:
    for table, columns in TABLES.items():
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        conn.execute(f"CREATE TABLE {table} ({cols})")
    for sql in INDEXES:
        conn.execute(sql)


class DayFileWriter:
    """Writes one recorded day; ``close()`` makes the file appear under its name."""

    def __init__(self, path: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        self._tmp.unlink(missing_ok=True)
        self.conn = sqlite3.connect(self._tmp)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        _create(self.conn)
        self.set_meta({"format": FORMAT, "format_version": VERSION, **meta})

    def set_meta(self, meta: dict[str, Any]) -> None:
        rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()]
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)

    def rows(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows (in the table's column order)."""
        n = len(TABLES[table])
        marks = ", ".join("?" * n)
        self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def json_row(self, table: str, document: Any) -> None:
        self.rows(table, [(json.dumps(document, separators=(",", ":")),)])

    def close(self) -> Path:
        self.conn.commit()
        self.conn.execute("VACUUM")
        self.conn.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.conn.close()
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Summary:
    """What a recorded day holds, in numbers (for listings and import reports)."""

    depot_id: str
    day: str
    source: str
    counts: dict[str, int]


class DayFile:
    """A recorded day, opened read-only and checked."""

    def __init__(self, path: str | Path, *, check: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DayFileError(f"{self.path}: no such file")
        if self.path.stat().st_size > MAX_BYTES:
            raise DayFileError(f"{self.path}: larger than {MAX_BYTES // 1024**3} GiB")
        with self.path.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise DayFileError(f"{self.path}: not a recorded day (not an SQLite file)")
        uri = f"file:{self.path.resolve()}?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute("PRAGMA trusted_schema=OFF")
            self.conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise DayFileError(f"{self.path}: cannot open ({exc})") from None
        try:
            self.meta = self._meta()
            if check:
                self._check()
        except sqlite3.Error as exc:
            self.conn.close()
            raise DayFileError(f"{self.path}: unreadable ({exc})") from None
        except DayFileError:
            self.conn.close()
            raise

    def _meta(self) -> dict[str, str]:
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "meta" not in tables:
            raise DayFileError(f"{self.path}: not a recorded day (no meta table)")
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise DayFileError(f"{self.path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        try:
            version = int(meta.get("format_version", "0"))
        except ValueError:
            version = 0
        if version < 1 or version > VERSION:
            raise DayFileError(
                f"{self.path}: format version {meta.get('format_version')!r}; this desk reads "
                f"1 to {VERSION} (a newer desk wrote it?)"
            )
        for key in ("depot_id", "day", "timezone"):
            if not meta.get(key):
                raise DayFileError(f"{self.path}: meta has no {key}")
        return meta

    def _check(self) -> None:
        ok = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise DayFileError(f"{self.path}: the database is damaged ({ok})")
        for table, columns in TABLES.items():
            have = [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]
            want = [name for name, _ in columns]
            if not have:
                raise DayFileError(f"{self.path}: table {table} is missing")
            missing = [c for c in want if c not in have]
            if missing:
                raise DayFileError(f"{self.path}: table {table} lacks column(s) {missing}")
        for what, sql in CHECKS:
            bad = self.conn.execute(sql).fetchone()[0]
            if bad:
                raise DayFileError(f"{self.path}: {bad} row(s) fail the check '{what}'")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> DayFile:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------
    @property
    def depot_id(self) -> str:
        return self.meta["depot_id"]

    @property
    def day(self) -> str:
        return self.meta["day"]

    def meta_json(self, key: str, default: Any = None) -> Any:
        value = self.meta.get(key)
        if value is None:
            return default
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    def json_rows(self, table: str, column: str = "json") -> list[Any]:
        out = []
        for (text,) in self.conn.execute(f"SELECT {column} FROM {table}"):
            try:
                out.append(json.loads(text))
            except (TypeError, json.JSONDecodeError):
                raise DayFileError(
                    f"{self.path}: {table}.{column} holds text that is not JSON"
                ) from None
        return out

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def iter_query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        return iter(self.conn.execute(sql, params))

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def summary(self) -> Summary:
        counts = {t: self.count(t) for t in TABLES if t not in ("meta", "day_input")}
        return Summary(self.depot_id, self.day, self.meta.get("source", ""), counts)
