"""The shared database checks who may do what: roles, command kinds, actors, the change
log, orders never dropped; the forged desk drill; users added by the administrator."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from app.store import open_store
from app.store.roles import KINDS, CommandForbidden, add_user, begin_command, list_users
from bench.drills.forged import drill_forged_desk

pytestmark = pytest.mark.postgres


def test_forged_desk_drill_applies_nothing(postgres_url: str) -> None:
    """As a dispatcher's database user: forged actors, a supervisor's kinds, writes without
    a command, change-log rewrites and a plan save dropping an order are all refused by the
    database, nothing changes; a dispatcher's lock and a supervisor's move still apply."""
    result = drill_forged_desk(postgres_url)
    assert result.tried >= 20
    assert result.applied == [], result.table()
    assert result.other_errors == [], result.table()
    assert result.plan_unchanged and result.log_unchanged
    for reason in ("actor is not the connected user", "kind not allowed for the role",
                   "write without a command", "change log is append-only",
                   "order dropped from the plan", "move between routes by a dispatcher",
                   "dispatcher's re-plan beyond one exception", "order on two routes"):  # fmt: skip
        assert result.refused[reason] >= 1, result.table()
    assert result.controls and all(ok for _, ok in result.controls), result.table()


def test_the_database_kinds_are_the_desks(postgres_url: str) -> None:
    """The kinds the database checks are exactly the desk's table (role, tables, moves)."""
    store = open_store(postgres_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, role, tables, moves FROM dispatch_sec.kind"))
            stored = {k: (r, tuple(t), m) for k, r, t, m in rows}
        assert stored == {k.name: (k.role, k.tables, k.moves) for k in KINDS.values()}
    finally:
        store.close()


def test_every_table_is_guarded_or_open_to_desks(postgres_url: str) -> None:
    """A desk writes a table only through a command, unless it is one of the open ones
    (telemetry, exceptions, the outbox record); tables added later are guarded too."""
    store = open_store(postgres_url)
    try:
        with store.engine.connect() as conn:
            guarded = set(conn.execute(text(
                "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'dispatch_guard'"
            )).scalars())  # fmt: skip
            open_ = set(conn.execute(text("SELECT name FROM dispatch_sec.open_table")).scalars())
        tables = set(inspect(store.engine).get_table_names()) - {"alembic_version"}
        assert tables - guarded - open_ == set()
        assert {"plan", "route", "stop", "orders", "change_log", "device_map"} <= guarded
    finally:
        store.close()


def test_users_add_makes_a_login_of_one_role(postgres_url: str) -> None:
    """The administrator adds a supervisor and a dispatcher; each connects as itself and
    the database knows its role; changing a role moves the membership."""
    admin = open_store(postgres_url)
    try:
        assert add_user(admin.engine, "una_sup", "supervisor", "s3cret pass'word")
        assert add_user(admin.engine, "ned_disp", "dispatcher", "another")
        users = {u.name: u.role for u in list_users(admin.engine)}
        assert users["una_sup"] == "supervisor" and users["ned_disp"] == "dispatcher"
        url = make_url(postgres_url).set(username="ned_disp", password="another")
        desk = open_store(url.render_as_string(hide_password=False), migrate=False)
        try:
            with desk.session() as s:
                assert s.scalar(text("SELECT dispatch_sec.my_role()")) == "dispatcher"
                with pytest.raises(CommandForbidden, match="supervisor command"):
                    begin_command(s, "import", "ned_disp@desk")
        finally:
            desk.close()
        assert not add_user(admin.engine, "ned_disp", "supervisor", "another")
        assert {u.name: u.role for u in list_users(admin.engine)}["ned_disp"] == "supervisor"
        with pytest.raises(ValueError, match="user name"):
            add_user(admin.engine, "Robert'); DROP TABLE orders;--", "dispatcher", "x")
    finally:
        admin.close()


def test_a_move_queued_by_a_demoted_supervisor_is_refused_by_the_database(
    postgres_url: str, tmp_path
) -> None:
    """Sam moves a stop offline as a supervisor; meanwhile the administrator makes him a
    dispatcher. On reconnect his desk still believes it may, but the database refuses the
    move: it becomes a sync conflict with the database's reason, the shared plan keeps the
    stop where it was, and nothing of it is in the change log."""
    from tests.app.test_sync_support import desk, orders, shared_store

    admin = shared_store(postgres_url)
    add_user(admin.engine, "sam_demoted", "supervisor", "pw")
    url = make_url(postgres_url).set(username="sam_demoted", password="pw")
    sam = desk(tmp_path, "desk-sam", url.render_as_string(hide_password=False))
    try:
        before = orders(admin)
        sam.work_offline = True
        moved = {"R0": before["R0"][1:], "R1": [*before["R1"], before["R0"][0]]}
        sam.execute(moved, actor="sam_demoted@desk-sam", label="Move O0 to V1")
        add_user(admin.engine, "sam_demoted", "dispatcher", "pw")
        sam.work_offline = False
        report = sam.sync()
        assert report.applied == 0 and report.conflicts == 1
        (conflict,) = sam.conflicts()
        assert "move_stops" in conflict.detail or "moving stops" in conflict.detail
        assert orders(admin) == before
        with admin.engine.connect() as conn:
            logged = conn.execute(text(
                "SELECT count(*) FROM change_log WHERE actor LIKE 'sam_demoted%'"
            )).scalar()  # fmt: skip
        assert logged == 0
    finally:
        sam.close()
        sam.local.close()
        admin.close()


def test_a_dispatcher_moving_an_order_to_another_depot_is_refused_by_the_database(
    postgres_url: str,
) -> None:
    """A move between depots is the supervisor's ``move_depot``, not a dispatcher's order
    edit: a dispatcher's database user sending one (a forged or outdated desk) is refused
    by the database with the reason, and the day is unchanged."""
    from dataclasses import replace

    from app.store import repository as repo
    from app.store.route_write import OrderEdits
    from app.sync.commands import Command, apply_command
    from bench.drills.day import DAY, DEPOT
    from tests.app.test_sync_support import orders, shared_store, versions

    admin = shared_store(postgres_url)
    add_user(admin.engine, "ned_mover", "dispatcher", "pw")
    url = make_url(postgres_url).set(username="ned_mover", password="pw")
    ned = open_store(url.render_as_string(hide_password=False), migrate=False)
    try:
        before = orders(admin)
        rid, ids = next((rid, ids) for rid, ids in before.items() if len(ids) >= 2)
        with admin.read_session() as s:
            order = next(o for o in repo.load_day(s, DEPOT, DAY).orders if o.id == ids[0])
        edits = OrderEdits(move=(replace(order, depot_id="ELSEWHERE"),))
        command = Command(DEPOT, DAY, {rid: ids[1:]}, {rid: versions(admin)[rid]},
                          "ned_mover@desk-ned", f"Move order {ids[0]} to depot ELSEWHERE",
                          orders=edits.to_json())  # fmt: skip
        assert command.name == "move_depot"
        with (
            ned.session() as s,
            pytest.raises(
                CommandForbidden, match="move_depot .* is a supervisor command; ned_mover works as"
            ),
        ):
            apply_command(s, command)
        assert orders(admin) == before

        # The same move disguised as a dispatcher's order change (a forged desk writing
        # the row itself): the database looks at what changes, the order's depot.
        from sqlalchemy import update

        from app.store.models import OrderRow
        from app.store.roles import begin_command, refused_as_forbidden
        from engine.model import Depot

        with admin.session() as s:
            repo.upsert_depots(s, [Depot("ELSEWHERE", "Elsewhere", order.location,
                                         "America/Denver")], actor="import")  # fmt: skip
        with ned.session() as s, pytest.raises(
            CommandForbidden, match=f"moving order {ids[0]} from depot {DEPOT} to depot "
            "ELSEWHERE is a supervisor command"
        ):  # fmt: skip
            begin_command(s, "order_edit", "ned_mover@desk-ned")
            with refused_as_forbidden():
                s.execute(update(OrderRow).where(OrderRow.id == order.id)
                          .values(depot_id="ELSEWHERE"))  # fmt: skip
        with admin.read_session() as s:
            assert s.get(OrderRow, order.id).depot_id == DEPOT
        assert orders(admin) == before
    finally:
        ned.close()
        admin.close()
