"""Moving an order between depots on a shared PostgreSQL, end to end: a supervisor's desk
(its own local copy, the outbox, the sync) moves an order not yet released from depot SLC's
day to depot SLC-N's; the shared database checks and records it as the supervisor's
``move_depot`` command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.dispatch.orders import OrderDesk
from app.dispatch.service import CommandRefused, DispatchService
from app.store import Store, open_store
from app.store import repository as repo
from app.store.models import ChangeLogRow, OrderRow, PlanRow
from app.store.repository_release import set_route_status
from app.store.roles import add_user
from app.sync import outbox
from app.sync.offline import OfflineDesk
from app.sync.session import command_of
from engine.model import (
    Depot,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    TimeWindow,
    Vehicle,
)
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import DAY, at, seed, small_day, small_plan

pytestmark = pytest.mark.postgres

TRAVEL = HaversineTravelModel()
NORTH = Depot("SLC-N", "Salt Lake North", Location(40.85, -111.90), "America/Denver")


def _north(store: Store, *, planned: bool) -> None:
    """Depot SLC-N with one van and one order on the same day (planned, or not yet)."""
    order = Order("N1", "SLC-N", Location(40.86, -111.91), {"kg": 60.0, "m3": 0.5},
                  (TimeWindow(at(8), at(17)),), timedelta(minutes=5))  # fmt: skip
    with store.session() as s:
        repo.upsert_depots(s, [NORTH], actor="import")
        repo.upsert_vehicles(s, [Vehicle("VN1", "SLC-N", {"kg": 1000.0, "m3": 10.0})],
                             actor="import")  # fmt: skip
        repo.upsert_drivers(s, [Driver("DRN1", "Driver N", "SLC-N", at(7), at(17),
                                       vehicle_id="VN1")], actor="import")  # fmt: skip
        repo.upsert_orders(s, [order], actor="import")
        if planned:
            route = Route("R-VN1", "VN1", (Stop("N1"),), driver_id="DRN1")
            repo.save_plan(s, Plan("P-SLCN", "SLC-N", DAY, (route,)), actor="planner")


def _setup(url: str, tmp_path, *, north_planned: bool = True):
    """The shared database (SLC's day planned, SLC-N's), supervisor Una's desk on SLC."""
    admin = open_store(url, workstation="setup")
    seed(admin, small_day(), small_plan())
    _north(admin, planned=north_planned)
    add_user(admin.engine, "una", "supervisor", "pw-una")
    login = make_url(url).set(username="una", password="pw-una")
    local = open_store(f"sqlite:///{tmp_path / 'una.sqlite3'}", workstation="desk-una")
    desk = OfflineDesk(local, login.render_as_string(hide_password=False), depot_id="SLC",
                       day=DAY, workstation="desk-una")  # fmt: skip
    assert desk.seed()
    service = DispatchService(local, TRAVEL, actor="una@desk-una", role="supervisor",
                              on_write=lambda s, record: outbox.enqueue(s, command_of(record)))  # fmt: skip
    return admin, desk, service


def _day(store: Store, depot_id: str):
    with store.read_session() as s:
        return repo.load_day(s, depot_id, DAY), repo.load_plan(s, depot_id, DAY)


def _plan_version(store: Store, depot_id: str) -> int:
    with store.read_session() as s:
        return s.scalar(select(PlanRow.version).where(PlanRow.depot_id == depot_id))


def test_a_supervisor_moves_an_order_to_another_depots_day(postgres_url, tmp_path):
    """Una moves O6 (on V2's route, not released) to SLC-N: on the shared database O6
    leaves V2's route (its version checked and raised), is stored with SLC-N, open, in
    SLC-N's unassigned list (that plan's version raised, its routes untouched), and the
    audit row names both depots with both plans' versions. Her undo brings it back."""
    admin, desk, service = _setup(postgres_url, tmp_path)
    try:
        with admin.read_session() as s:
            slc_before = repo.route_versions(s, "SLC", DAY)
            north_routes = repo.route_versions(s, "SLC-N", DAY)
        north_version = _plan_version(admin, "SLC-N")
        day, plan = _day(desk.local, "SLC")
        result = OrderDesk(service, TRAVEL).move_to_depot(plan, day, "O6", "SLC-N",
                                                          seen=north_version, now=at(7))  # fmt: skip
        assert "O6" not in {o for r in result.plan.routes for o in r.order_ids}
        report = desk.sync()
        assert (report.applied, report.conflicts) == (1, 0), report

        slc_day, slc_plan = _day(admin, "SLC")
        north_day, north_plan = _day(admin, "SLC-N")
        assert slc_plan.route_of("O6") is None
        assert "O6" not in {u.order_id for u in slc_plan.unassigned}
        assert "O6" not in {o.id for o in slc_day.orders}
        assert "O6" in {o.id for o in north_day.orders}
        (moved_in,) = [u for u in north_plan.unassigned if u.order_id == "O6"]
        assert "from depot SLC" in moved_in.detail and "una@desk-una" in moved_in.detail
        with admin.read_session() as s:
            row = s.get(OrderRow, "O6")
            assert (row.depot_id, row.status) == ("SLC-N", "open")
            slc_after = repo.route_versions(s, "SLC", DAY)
            assert repo.route_versions(s, "SLC-N", DAY) == north_routes
            logged = s.scalars(select(ChangeLogRow).where(
                ChangeLogRow.entity == "command", ChangeLogRow.actor == "una@desk-una"
            )).all()  # fmt: skip
            kinds = s.execute(text(
                "SELECT kind FROM dispatch_sec.command WHERE actor = 'una@desk-una'"
            )).scalars().all()  # fmt: skip
        assert slc_after["R-V2"] == slc_before["R-V2"] + 1
        assert {k: v for k, v in slc_after.items() if k != "R-V2"} == {
            k: v for k, v in slc_before.items() if k != "R-V2"}  # fmt: skip
        assert _plan_version(admin, "SLC-N") == north_version + 1
        assert kinds == ["move_depot"]
        (audit,) = logged
        assert audit.before["routes"]["R-V2"]["version"] == slc_before["R-V2"]
        assert audit.after["routes"]["R-V2"]["version"] == slc_after["R-V2"]
        assert [o["id"] for o in audit.after["order_edits"]["move"]] == ["O6"]
        assert audit.after["other_depots"]["SLC-N"] == {
            "plan": "P-SLCN", "version_before": north_version,
            "version_after": north_version + 1, "unassigned_added": ["O6"],
            "unassigned_removed": []}  # fmt: skip

        # Undo (Ctrl+Z): back on V2's route at SLC, out of SLC-N's unassigned list.
        back = service.apply_undo(result.plan, result.undo)
        assert back.plan.route_of("O6") is not None
        assert desk.sync().applied == 1
        slc_day, slc_plan = _day(admin, "SLC")
        north_day, north_plan = _day(admin, "SLC-N")
        assert slc_plan.route_of("O6").id == "R-V2"
        assert "O6" not in {u.order_id for u in north_plan.unassigned}
        assert "O6" not in {o.id for o in north_day.orders}
    finally:
        desk.close()
        desk.local.close()
        admin.close()


def test_a_released_order_stays_and_a_changed_route_is_a_conflict(postgres_url, tmp_path):
    """An order on a released route is refused at the desk with the reason, nothing
    queued; a move made on a route someone else changed meanwhile is a sync conflict on
    the shared database, and neither depot's day changes."""
    admin, desk, service = _setup(postgres_url, tmp_path)
    try:
        with admin.session() as s:
            set_route_status(s, "R-V1", RouteStatus.RELEASED, actor="admin", at=at(6))
        desk.sync()
        day, plan = _day(desk.local, "SLC")
        assert plan.route_of("O2").status is RouteStatus.RELEASED
        orders_desk = OrderDesk(service, TRAVEL)
        with pytest.raises(
            CommandRefused,
            match="R-V1, released: only an order not yet released can move to another depot",
        ):
            orders_desk.move_to_depot(plan, day, "O2", "SLC-N", seen=None, now=at(7))
        assert desk.pending_count() == 0

        # Someone else re-sequences V3's route on the shared database after Una's copy.
        with admin.session() as s:
            stored = repo.load_plan(s, "SLC", DAY)
            r3 = next(r for r in stored.routes if r.id == "R-V3")
            repo.update_route_stops(s, "R-V3", tuple(reversed(r3.stops)),
                                    base_version=repo.route_versions(s, "SLC", DAY)["R-V3"],
                                    actor="admin")  # fmt: skip
        slc_before, north_before = _day(admin, "SLC")[1], _day(admin, "SLC-N")[1]
        north_version = _plan_version(admin, "SLC-N")
        desk.work_offline = True
        orders_desk.move_to_depot(plan, day, "O10", "SLC-N", seen=north_version, now=at(7))
        desk.work_offline = False
        report = desk.sync()
        assert (report.applied, report.conflicts) == (0, 1)
        assert _day(admin, "SLC")[1] == slc_before
        assert _day(admin, "SLC-N")[1] == north_before
        assert _plan_version(admin, "SLC-N") == north_version
        with admin.read_session() as s:
            assert s.get(OrderRow, "O10").depot_id == "SLC"
    finally:
        desk.close()
        desk.local.close()
        admin.close()


def test_an_order_moved_to_a_day_not_planned_waits_for_its_first_plan(postgres_url, tmp_path):
    """SLC-N has no plan for the day: the moved order is stored with SLC-N, open, in its
    day's orders for its first plan; the database does not take it for a dropped order."""
    admin, desk, service = _setup(postgres_url, tmp_path, north_planned=False)
    try:
        day, plan = _day(desk.local, "SLC")
        assert _plan_version(admin, "SLC-N") is None
        OrderDesk(service, TRAVEL).move_to_depot(plan, day, "O6", "SLC-N", seen=None, now=at(7))
        report = desk.sync()
        assert (report.applied, report.conflicts) == (1, 0), report
        north_day, north_plan = _day(admin, "SLC-N")
        assert north_plan is None
        assert {o.id for o in north_day.orders} == {"N1", "O6"}
        assert _day(admin, "SLC")[1].route_of("O6") is None
    finally:
        desk.close()
        desk.local.close()
        admin.close()


def test_a_move_queued_offline_on_a_plan_changed_since_is_a_conflict(postgres_url, tmp_path):
    """Una chose SLC-N when its plan was at version v and moved O6 there while her desk was
    offline (the move waits in the outbox; her copy holds no other depot's plan). SLC-N's
    desk re-planned meanwhile: when her desk is back the move is a sync conflict on the
    board like any other, naming SLC-N's plan and both versions; neither day changed on
    the shared database. Keeping hers (having seen SLC-N's plan as it is now) moves it
    there on that version."""
    admin, desk, service = _setup(postgres_url, tmp_path)
    try:
        seen = _plan_version(admin, "SLC-N")
        day, plan = _day(desk.local, "SLC")
        desk.work_offline = True
        OrderDesk(service, TRAVEL).move_to_depot(plan, day, "O6", "SLC-N", seen=seen, now=at(7))
        assert desk.pending_count() == 1
        with admin.session() as s:  # SLC-N's desk adds a route: its plan's version rises
            north = repo.load_plan(s, "SLC-N", DAY)
            repo.save_plan(s, Plan(north.id, "SLC-N", DAY,
                                   (*north.routes, Route("R-VN2", "VN1", ()))),
                           actor="north@desk-n")  # fmt: skip
        now = _plan_version(admin, "SLC-N")
        slc_before, north_before = _day(admin, "SLC")[1], _day(admin, "SLC-N")[1]
        desk.work_offline = False
        report = desk.sync()
        assert (report.applied, report.conflicts) == (0, 1), report
        assert _day(admin, "SLC")[1] == slc_before
        assert _day(admin, "SLC-N")[1] == north_before
        assert _plan_version(admin, "SLC-N") == now
        with admin.read_session() as s:
            assert s.get(OrderRow, "O6").depot_id == "SLC"
        (conflict,) = desk.conflicts()
        assert (
            f"depot SLC-N's plan of {DAY} was changed by someone else since the move was "
            f"chosen: you saw version {seen}, it is at version {now} now"
        ) in conflict.detail
        desk.sync()  # her copy shows the shared day again: O6 back on V2's route
        assert _day(desk.local, "SLC")[1].route_of("O6").id == "R-V2"
        assert desk.resolve_conflict(conflict.id, keep="mine", actor="una@desk-una")
        report = desk.sync()
        assert (report.applied, report.conflicts) == (1, 0), report
        assert desk.conflicts() == [] and desk.pending_count() == 0
        slc_day, slc_plan = _day(admin, "SLC")
        north_day, north_plan = _day(admin, "SLC-N")
        assert slc_plan.route_of("O6") is None and "O6" not in {o.id for o in slc_day.orders}
        assert "O6" in {u.order_id for u in north_plan.unassigned}
        assert "O6" in {o.id for o in north_day.orders}
        assert _plan_version(admin, "SLC-N") == now + 1
    finally:
        desk.close()
        desk.local.close()
        admin.close()


def test_dropping_an_order_of_a_planned_day_is_still_refused(postgres_url, tmp_path):
    """The database's exemption is for days not planned yet: Una's database user taking O6
    off its route at SLC (a planned day) and putting it nowhere is refused at commit."""
    from sqlalchemy import delete

    from app.store.models import StopRow
    from app.store.roles import CommandForbidden, begin_command, check_now

    admin, desk, _service = _setup(postgres_url, tmp_path)
    try:
        plan = _day(admin, "SLC")[1]
        with (
            desk.shared().session() as s,
            pytest.raises(CommandForbidden, match="O6 would be dropped"),
        ):
            begin_command(s, "move_depot", "una@desk-una")
            s.execute(delete(StopRow).where(StopRow.order_id == "O6"))
            check_now(s)
        assert _day(admin, "SLC")[1] == plan
    finally:
        desk.close()
        desk.local.close()
        admin.close()
