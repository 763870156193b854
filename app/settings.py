"""The workstation's settings: one flat, immutable snapshot; each field with a default and a description.

Every field can be overridden by an environment variable ``DISPATCH_<FIELD>`` (tests and
deployments use this). The engine never reads settings; it receives parameters.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

APP_NAME = "dispatch-desk"


def user_data_dir() -> Path:
    """Where the embedded database, tile cache and logs live (``DISPATCH_DATA_DIR`` wins)."""
    override = os.environ.get("DISPATCH_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    mqtt_password: str = _doc("", "Broker password (prefer the system keyring)")
    mqtt_ca_file: str = _doc("", "CA bundle for mqtts:// brokers; empty = system store")
    depot_id: str = _doc("", "The depot this workstation runs; empty = the only one")
    workstation_id: str = _doc(
        socket.gethostname(), "Stable name of this workstation (MQTT client id, change log)"
    )
    user: str = _doc(os.environ.get("USER", "dispatcher"), "Who is signed in")
    role: str = _doc("supervisor", "dispatcher or supervisor")
    demo: bool = _doc(True, "Load the demo depot on first start when the database is empty")
    demo_seed: int = _doc(7, "Seed of the demo day")
    simulate: bool = _doc(
        True, "Drive the demo depot's fleet with the built-in simulator (embedded broker only)"
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
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then ``DISPATCH_*`` variables, then explicit keyword overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"DISPATCH_{f.name.upper()}")
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
