"""Who works at this desk, and as what: asked of the database, or of the user's profile.

On PostgreSQL the desk connects as the person's own database user and the database says
its role (``app.store.roles``); the commands it sends name that user, and the database
refuses any other. An administrator's connection (a member of ``dispatch_owner``, e.g. a
superuser in tests) keeps the configured user name and works as a supervisor. When the
database cannot be reached at start, the desk works as a dispatcher until it is restarted
online, unless the database confirmed its role before: the last identity the database
confirmed is kept beside the local copy and used while offline (the database checks every
command again when it replays).

On SQLite the role is the profile's (``app.profile``). ``DISPATCH_ROLE=dispatcher`` narrows
either for one run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app.profile import local_role
from app.settings import Settings, private_file
from app.store.database import create_store_engine
from app.store.roles import whoami
from app.sync.offline import UNREACHABLE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    user: str
    role: str  # "dispatcher" or "supervisor": what the desk offers
    source: str  # "database", "database (administrator)", "profile", "offline", "no role"

    @property
    def label(self) -> str:
        """The status bar's text, e.g. ``dana · dispatcher``."""
        return f"{self.user} · {self.role}"

    def plan_refusal(self, replaces: bool) -> str:
        """Why planning the whole day is refused ("" when it is not): replacing a plan (or
        any plan on a shared database) is a supervisor's."""
        if self.role == "supervisor" or not replaces:
            return ""
        return (
            f"Plan the day replaces the whole plan: a supervisor action; "
            f"{self.user} works as a dispatcher"
        )

    @property
    def tooltip(self) -> str:
        checked = {
            "database": "checked by the shared database on every command",
            "database (administrator)": "an administrator's database connection",
            "profile": "from this account's profile (a desk of its own)",
            "offline": "the shared database was unreachable at start: working as a "
            "dispatcher until restarted online",
            "offline, as last confirmed": "the shared database was unreachable at start: "
            "the role it confirmed last time; it checks every command again on replay",
            "no role": "the database user is neither dispatcher nor supervisor: every "
            "command will be refused",
        }[self.source]
        return f"Signed in as {self.user}, role {self.role} ({checked})"


def desk_identity(
    settings: Settings, shared_url: str | None, remember: Path | None = None
) -> Identity:
    """The signed-in user and role (``shared_url``: the PostgreSQL URL with its password;
    ``remember``: where the last identity the database confirmed is kept)."""
    narrow = settings.role == "dispatcher"
    if not shared_url:
        return Identity(settings.user, local_role(settings), "profile")
    url_user = make_url(shared_url).username or settings.user
    found = _ask_database(settings, shared_url, url_user, narrow)
    if remember is None:
        return found
    if found.source != "offline":
        private_file(remember)
        remember.write_text(json.dumps({"url_user": url_user, "user": found.user,
                                        "role": found.role, "source": found.source}))  # fmt: skip
        return found
    try:
        last = json.loads(remember.read_text())
    except (OSError, ValueError):
        return found
    if last.get("url_user") != url_user or last.get("role") not in ("dispatcher", "supervisor"):
        return found
    role = "dispatcher" if narrow else last["role"]
    return Identity(last.get("user") or url_user, role, "offline, as last confirmed")


def _ask_database(settings: Settings, shared_url: str, url_user: str, narrow: bool) -> Identity:
    try:
        url = make_url(shared_url)
        if "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": "3"})
        engine = create_store_engine(url.render_as_string(hide_password=False))
        try:
            user, role = whoami(engine)
        finally:
            engine.dispose()
    except UNREACHABLE as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("the shared database is unreachable: working as a dispatcher (%s)", first)
        return Identity(url_user, "dispatcher", "offline")
    if role == "owner":
        return Identity(settings.user, "dispatcher" if narrow else "supervisor",
                        "database (administrator)")  # fmt: skip
    if role is None:
        return Identity(user, "dispatcher", "no role")
    return Identity(user, "dispatcher" if narrow else role, "database")
