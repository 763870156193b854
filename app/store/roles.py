"""Who may do what, checked by the database: PostgreSQL roles, command kinds, users.

On PostgreSQL (migration 0009) every person logs in as their own database role, a member of
``dispatch_dispatcher`` or ``dispatch_supervisor`` (a supervisor is a dispatcher too); the
schema belongs to ``dispatch_owner``, whose members (the administrator) migrate and import.
A write transaction of a desk starts with ``begin_command(session, kind, actor)``: the
database checks that the connected user may run ``kind`` and that ``actor`` names that
user, and records the command; triggers on the protected tables refuse any write without
such a command, a dispatcher's kind moving stops between routes, an order taken off its
route and put nowhere, and any UPDATE or DELETE of the change log. See ``KINDS``.

On SQLite (one desk, one file) there is no one to check against: the desk checks its own
role, read from the local user's profile (``app.profile``), before it writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.store import commands as applier
from app.store.commands import CommandContext, CommandRefused

ROLES = ("dispatcher", "supervisor")
OWNER, DISPATCHER, SUPERVISOR = "dispatch_owner", "dispatch_dispatcher", "dispatch_supervisor"
GROUP = {"dispatcher": DISPATCHER, "supervisor": SUPERVISOR}


@dataclass(frozen=True)
class Kind:
    """A command kind: the role it needs, the tables it may write, whether it may move
    stops between routes, and what it is."""

    name: str
    role: str
    tables: tuple[str, ...]
    moves: bool
    description: str


_PLAN = ("plan", "route", "stop", "plan_unassigned", "change_log")
_RELEASE = ("route", "route_transition", "dock_scan", "gate_override", "route_publication",
            "route_ack", "change_log")  # fmt: skip
#: Every command kind (the same table as ``dispatch_sec.kind``: migration 0009, 0011 adds
#: ``move_depot``).
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("set_locks", "dispatcher", ("route", "stop", "change_log"), False,
             "lock or unlock stops"),
        Kind("set_route_stops", "dispatcher", ("route", "stop", "change_log"), False,
             "re-sequence a route (moving stops between routes: move_stops)"),
        Kind("move_stops", "supervisor", ("route", "stop", "change_log"), True,
             "move stops between routes (a drag, its undo)"),
        Kind("replan_routes", "dispatcher", _PLAN, True,
             "accept a re-plan of one exception's routes"),
        Kind("replan_fleet", "supervisor", _PLAN, True, "accept a fleet-wide re-plan"),
        Kind("plan_day", "supervisor", _PLAN, True, "plan the day: replace the whole plan"),
        Kind("order_edit", "dispatcher", ("orders", "order_window", *_PLAN), True,
             "add, change or cancel an order"),
        Kind("move_depot", "supervisor", ("orders", "order_window", *_PLAN), True,
             "move an order not yet released to another depot's day"),
        Kind("propose", "dispatcher", ("proposal", "change_log"), False,
             "send a proposal to a supervisor"),
        Kind("exception_state", "dispatcher", ("exception", "change_log"), False,
             "acknowledge or resolve an exception"),
        Kind("decide_proposal", "supervisor", ("proposal", *_PLAN), True,
             "accept or reject a proposal"),
        Kind("release", "dispatcher", _RELEASE, False,
             "release, recall, load, set a route's status"),
        Kind("override_gate", "supervisor", _RELEASE, False, "override a release gate"),
        Kind("rule_firing", "dispatcher", ("rule_firing", "change_log"), False,
             "record a rule's firing"),
        Kind("rules_edit", "supervisor", ("rule", "rule_version", "rule_switch", "change_log"),
             False, "write, switch or pause standing rules"),
        Kind("devices", "supervisor", ("device_map", "change_log"), False,
             "map tracker devices to vehicles"),
        Kind("kpi_settings", "supervisor", ("kpi_setting", "change_log"), False,
             "set KPI targets and costs"),
        Kind("import", "supervisor", ("*",), True,
             "import orders, vehicles, drivers, a recorded day"),
    )
}  # fmt: skip

_REFUSED = "42501"  # insufficient_privilege: the checks' refusals and missing grants alike


class CommandForbidden(CommandRefused):
    """The database (or, on SQLite, the desk's own profile) refused a command: who may do
    what is not this user's role, the actor is not the connected user, or the write would
    break a rule the database keeps. The message says which."""


def refusal(exc: BaseException) -> str | None:
    """The database's reason when ``exc`` is one of its refusals, else None."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) != _REFUSED:
        return None
    first = (str(orig).strip().splitlines() or ["refused"])[0]
    return re.sub(r"^refused: ", "", first)


def allowed(role: str, kind: str) -> bool:
    """Whether ``role`` may run commands of ``kind`` (the desk's own check; SQLite)."""
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown command kind {kind!r}; known: {sorted(KINDS)}")
    return role == "supervisor" or found.role == role


def require(role: str, kind: str, who: str) -> None:
    """Raise ``CommandForbidden`` unless ``role`` may run ``kind``."""
    if not allowed(role, kind):
        k = KINDS[kind]
        raise CommandForbidden(
            f"{kind} ({k.description}) is a {k.role} command; {who} works as {role}"
        )


def has_roles(session: Session) -> bool:
    """True on a PostgreSQL database with the role checks (migration 0009)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.scalar(text("SELECT to_regproc('dispatch_sec.begin_command') IS NOT NULL")))


def begin_command(session: Session, kind: str, actor: str) -> None:
    """Start a command of ``kind`` by ``actor`` in ``session``'s transaction (PostgreSQL:
    the database checks and records it; raises ``CommandForbidden`` when it refuses).
    Does nothing on SQLite, where the desk checked its own role before."""
    if kind not in KINDS:
        raise ValueError(f"unknown command kind {kind!r}; known: {sorted(KINDS)}")
    if session.get_bind().dialect.name != "postgresql":
        return
    with refused_as_forbidden():
        session.execute(
            text("SELECT dispatch_sec.begin_command(:kind, :actor)"),
            {"kind": kind, "actor": actor},
        )


def check_now(session: Session) -> None:
    """Run the checks PostgreSQL keeps for the commit (no order dropped) now, so a refusal
    comes back to the caller inside its transaction (or savepoint)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    with refused_as_forbidden():
        session.flush()
        session.execute(text("SET CONSTRAINTS dispatch_sec.dispatch_orders_kept IMMEDIATE"))
        session.execute(text("SET CONSTRAINTS dispatch_sec.dispatch_orders_kept DEFERRED"))


@contextmanager
def refused_as_forbidden() -> Iterator[None]:
    """Turn the database's refusals raised inside the block into ``CommandForbidden``."""
    try:
        yield
    except DBAPIError as exc:
        reason = refusal(exc)
        if reason is None:
            raise
        raise CommandForbidden(reason) from exc


def database_role(session: Session) -> str | None:
    """The connected user's role on PostgreSQL: ``"supervisor"``, ``"dispatcher"``,
    ``"owner"`` (the administrator), or None (a user of neither). ``"owner"`` too on a
    database without the role checks."""
    if not has_roles(session):
        return "owner"
    return session.scalar(text("SELECT dispatch_sec.my_role()"))


def whoami(engine: Engine) -> tuple[str, str | None]:
    """(the connected user, its role as ``database_role`` says)."""
    with Session(engine) as s:
        return str(s.scalar(text("SELECT session_user"))), database_role(s)


# -- the administrator's side ---------------------------------------------------------------
@dataclass(frozen=True)
class DbUser:
    name: str
    role: str
    can_login: bool


def list_users(engine: Engine) -> list[DbUser]:
    """The database's users: every login role that is a dispatcher or supervisor."""
    query = text(
        """
        SELECT r.rolname,
               CASE WHEN pg_has_role(r.oid, 'dispatch_supervisor', 'MEMBER') THEN 'supervisor'
                    ELSE 'dispatcher' END,
               r.rolcanlogin
        FROM pg_roles r
        WHERE r.rolname NOT LIKE 'dispatch\\_%' AND NOT r.rolsuper
          AND pg_has_role(r.oid, 'dispatch_dispatcher', 'MEMBER')
        ORDER BY r.rolname
        """
    )
    with engine.connect() as conn:
        return [DbUser(name, role, bool(login)) for name, role, login in conn.execute(query)]


_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")


def add_user(engine: Engine, name: str, role: str, password: str) -> bool:
    """Create the login role ``name`` (or update its password) and make it a member of
    ``role`` only; returns True when it was created. Needs an administrator's connection
    (CREATEROLE). The password is quoted by the server and never logged here."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not _NAME.match(name) or name.startswith("dispatch_") or name.startswith("pg_"):
        raise ValueError(
            f"user name {name!r}: use lower-case letters, digits, '_', '.', '-' "
            "(at most 63, not starting with dispatch_ or pg_)"
        )
    if not password:
        raise ValueError(f"user {name}: an empty password is not allowed")
    with engine.begin() as conn:
        exists = bool(conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}))
        if exists and conn.scalar(
            text("SELECT pg_has_role(CAST(:n AS text), 'dispatch_owner', 'MEMBER')"), {"n": name}
        ):
            raise ValueError(f"{name} is an administrator of this database, not a desk user")
        verb = "ALTER ROLE %I LOGIN PASSWORD %L" if exists else "CREATE ROLE %I LOGIN PASSWORD %L"
        statement = conn.scalar(
            text("SELECT format(CAST(:f AS text), CAST(:n AS text), CAST(:p AS text))"),
            {"f": verb, "n": name, "p": password},
        )
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()  # a plain execute: no placeholders parsed in the password
        try:
            cursor.execute(str(statement))
        finally:
            cursor.close()
        other = GROUP["dispatcher" if role == "supervisor" else "supervisor"]
        for statement in (
            f"REVOKE {other} FROM %I",
            f"GRANT {GROUP[role]} TO %I",
        ):
            sql = conn.scalar(
                text("SELECT format(CAST(:f AS text), CAST(:n AS text))"),
                {"f": statement, "n": name},
            )
            conn.exec_driver_sql(str(sql))
        conn.exec_driver_sql(
            str(
                conn.scalar(
                    text(
                        "SELECT format('GRANT CONNECT ON DATABASE %I TO %I', "
                        "current_database(), CAST(:n AS text))"
                    ),
                    {"n": name},
                )
            )  # fmt: skip
        )
    return not exists


# -- the command applier's begin hook ---------------------------------------------------------
#: The applier's kind (or the command's ``name``) -> the database's kind; ``set_route_stops``
#: by a supervisor is ``move_stops`` (the database refuses a dispatcher's that moves a stop).
_APPLIER_KINDS = {
    "set_locks": "set_locks",
    "plan_day": "plan_day",
    "replan_fleet": "replan_fleet",
    "replan_routes": "replan_routes",
    "exception_state": "exception_state",
    "order_edit": "order_edit",  # an order added, changed or cancelled (with its routes)
    "move_depot": "move_depot",  # an order moved to another depot's day (a supervisor's)
    "release": "release",  # release_control commands (app.sync.commands), by what they do
    "override_gate": "override_gate",
}


def _begin_hook(session: Session, context: CommandContext) -> None:
    """Every command the applier runs on PostgreSQL starts as a checked command there. A
    kind with no database counterpart begins nothing: the database then refuses a desk's
    writes, and lets only the administrator's through."""
    if session.get_bind().dialect.name != "postgresql":
        return
    kind = _APPLIER_KINDS.get(context.name) or _APPLIER_KINDS.get(context.kind)
    if kind is None and context.kind == "set_route_stops":
        role = database_role(session)
        kind = "move_stops" if role in ("supervisor", "owner") else "set_route_stops"
    if kind is not None:
        begin_command(session, kind, context.actor)


applier.add_begin_hook(_begin_hook)
