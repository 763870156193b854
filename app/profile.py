"""The local user's profile: who works at this desk and as what, on a desk of its own.

On PostgreSQL the database says who is connected and as what (``app.store.roles``); this
file is not read there. On SQLite (one desk, one file) the role comes from the profile,
``profile.json`` in the user's configuration folder (``~/.config/dispatch-desk`` on Linux),
private to the user (0600). A first start writes it with the role ``supervisor``: the person
who installs a desk of its own runs it. ``python main.py users role dispatcher`` makes the
account a dispatcher's. ``DISPATCH_ROLE`` may narrow the role for one run (a supervisor
trying the dispatcher's view), never widen it.

What this protects: a dispatcher's account on a shared computer cannot plan the day,
import, map devices or accept fleet re-plans by mistake. What it does not: anyone who can
write their own profile, or the SQLite file itself, can do anything; only the operating
system's file permissions guard that file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import platformdirs

from app.settings import APP_NAME, Settings, private_dir, private_file

log = logging.getLogger(__name__)

ROLES = ("dispatcher", "supervisor")


def profile_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "profile.json"


def read_profile() -> dict:
    """The profile as stored (written with the role ``supervisor`` on a first start)."""
    path = profile_path()
    if not path.exists():
        write_role("supervisor")
        log.info("wrote %s: this account is the desk's supervisor", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"the profile {path} cannot be read ({exc}); fix or remove it") from exc
    if not isinstance(data, dict) or data.get("role") not in ROLES:
        raise ValueError(f"the profile {path}: 'role' must be one of {ROLES}")
    return data


def write_role(role: str) -> Path:
    """Store ``role`` as this account's role on a desk of its own."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    path = profile_path()
    private_dir(path.parent)
    private_file(path)
    data = {}
    if path.stat().st_size:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
    data["role"] = role
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def local_role(settings: Settings) -> str:
    """The role of this account on a desk of its own: the profile's, narrowed by
    ``DISPATCH_ROLE=dispatcher`` for one run; asking for more is ignored with a warning."""
    role = read_profile()["role"]
    wanted = settings.role
    if wanted and wanted not in ROLES:
        raise ValueError(f"DISPATCH_ROLE={wanted!r}: expected one of {ROLES}")
    if wanted == "dispatcher":
        return "dispatcher"
    if wanted == "supervisor" and role != "supervisor":
        log.warning(
            "DISPATCH_ROLE=supervisor ignored: the profile %s makes this account a %s",
            profile_path(), role,
        )  # fmt: skip
    return role
