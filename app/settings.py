"""The workstation's settings: one flat, immutable snapshot; each field with a default and a description.

Every field can be overridden by an environment variable ``DISPATCH_<FIELD>`` (tests and
deployments use this). The engine never reads settings; it receives parameters.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "dispatch-desk"

log = logging.getLogger(__name__)
_secured: set[Path] = set()  # data folders whose contents were made private this process


def user_data_dir() -> Path:
    """Where the embedded database, tile cache, broker state and logs live
    (``DISPATCH_DATA_DIR`` wins): a folder private to the user (0700), its files 0600.

    The first call of a process also makes private what an earlier version left readable
    to others (databases with their WAL/SHM files, tile caches, broker state)."""
    override = os.environ.get("DISPATCH_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    private_dir(path)
    if path not in _secured:
        _secured.add(path)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:  # a shared folder (/tmp): leave it be
            log.warning(
                "the data folder %s is open to other users; point DISPATCH_DATA_DIR at a "
                "folder of your own",
                path,
            )
            return path
        for root, dirs, files in os.walk(path):
            for name in dirs:
                _tighten(Path(root, name), 0o700)
            for name in files:
                _tighten(Path(root, name), 0o600)
    return path


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user alone, or make it so."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist yet (a SQLite database
    created this way gives its WAL and SHM files the same mode), else make it 0600."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        _tighten(path, 0o600)
    return path


def _tighten(path: Path, mode: int) -> None:
    """chmod to ``mode`` when others (or the group) may read it; only what the user owns,
    and never a shared sticky folder such as /tmp."""
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & stat.S_ISVTX:
            return
        if stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & mode)
    except OSError as exc:
        log.warning("could not make %s private to its user: %s", path, exc)


def _login_name() -> str:
    """The operating-system account's name (never a role word such as "dispatcher")."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def _doc(default, description: str):
    return field(default=default, metadata={"doc": description})


@dataclass(frozen=True)
class Settings:
    """One immutable snapshot of the settings; threads get a copy, never a live object."""

    database_url: str = _doc(
        "", "SQLAlchemy URL of the shared database; empty = SQLite in the user data directory"
    )
    mqtt_url: str = _doc(
        "", "Broker URL (mqtt://host:port or mqtts://); empty = the embedded broker on 127.0.0.1"
    )
    mqtt_username: str = _doc("", "Broker user name")
    mqtt_password: str = _doc(
        "",
        "Broker password; empty = the system keyring's (`python -m app.secrets set mqtt_password`)",
    )
    mqtt_ca_file: str = _doc("", "CA bundle for mqtts:// brokers; empty = system store")
    depot_id: str = _doc(
        "",
        "The depot this workstation runs (and the only one whose MQTT topics it subscribes "
        "to); empty = the first depot in the database",
    )
    service_radius_km: float = _doc(
        0.0,
        "How far from the depot a vehicle's first fix may be; 0 = the day's farthest stop "
        "plus 25 km",
    )
    workstation_id: str = _doc(
        socket.gethostname(), "Stable name of this workstation (MQTT client id, change log)"
    )
    user: str = _doc(
        _login_name(),
        "Who is signed in on a desk of its own (SQLite); on PostgreSQL the database user",
    )
    role: str = _doc(
        "",
        "dispatcher: narrow this run to the dispatcher's role (never widens it). The role "
        "comes from the database on PostgreSQL, from the user's profile on SQLite",
    )
    demo: bool = _doc(True, "Load the demo depot on first start when the database is empty")
    demo_seed: int = _doc(7, "Seed of the demo day")
    simulate: bool = _doc(
        True, "Drive the demo depot's fleet with the built-in simulator (embedded broker only)"
    )
    simulate_depots: str = _doc(
        "",
        "Other depots (ids, comma-separated) whose day the built-in simulator drives on the "
        "embedded broker, e.g. a day made with `main.py demo --roads NAME`",
    )
    demo_speedup: float = _doc(10.0, "How much faster than real time the simulated demo day runs")
    first_plan_seconds: float = _doc(10.0, "Time limit of the automatic first plan of a day")
    tile_url: str = _doc("", "Tile source URL template ({z}/{x}/{y}) that fills the cache online")

    @property
    def sqlite_path(self) -> Path:
        return user_data_dir() / "dispatch.sqlite3"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``DISPATCH_*`` variables, then explicit keyword overrides."""
        source: Mapping[str, str] = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"DISPATCH_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type in ("float", float):
                try:
                    values[f.name] = float(raw)
                except ValueError as exc:
                    raise ValueError(
                        f"DISPATCH_{f.name.upper()}={raw!r}: expected a number"
                    ) from exc
            elif f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError as exc:
                    raise ValueError(
                        f"DISPATCH_{f.name.upper()}={raw!r}: expected a whole number"
                    ) from exc
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, description) for ``--help`` and the README."""
        return [
            (f"DISPATCH_{f.name.upper()}", repr(f.default), f.metadata.get("doc", ""))
            for f in fields(cls)
        ]
