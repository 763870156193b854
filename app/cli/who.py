"""Who runs a command-line command, and may they: the database's answer on PostgreSQL
(which checks every write again itself), the user's profile on SQLite."""

from __future__ import annotations

import sys

from app.settings import Settings
from app.sync.identity import Identity, desk_identity
from app.sync.session import is_shared_url


def identity(settings: Settings, url: str) -> Identity:
    """The signed-in user and role for a command on the database at ``url``."""
    if is_shared_url(url):
        from app.secrets import database_url_with_password

        return desk_identity(settings, database_url_with_password(url))
    return desk_identity(settings, None)


def supervisor_only(who: Identity, command: str) -> bool:
    """False (and the reason on stderr) unless ``who`` is a supervisor."""
    if who.role == "supervisor":
        return True
    print(
        f"{command}: a supervisor's command; {who.user} works as {who.role} ({who.source}). "
        "A supervisor runs it, or the administrator changes the role "
        "(`main.py users add NAME --role supervisor`, on SQLite `main.py users role`)",
        file=sys.stderr,
    )
    return False
