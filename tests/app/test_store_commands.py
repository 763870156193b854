"""The one command applier keeps the day's invariants on SQLite and PostgreSQL alike: a
command that would put an order on two routes, move a served or locked stop, or drop an
order is refused whole with its reason, and nothing of it is stored."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from app.dispatch.store import write_routes
from app.store import commands as applier
from app.store import daycheck, open_store
from app.store import repository as repo
from app.store.models import StopRow, UnassignedRow
from app.sync.commands import SAVE_PLAN, SET_ROUTE_STOPS, Command, PlanChange, apply_command
from bench.drills.day import DAY, DEPOT, seed_drill_day
from engine.model import Plan, StopStatus
from main import main


@pytest.fixture
def day_store(store_url: str):
    store = open_store(store_url, workstation="test")
    seed_drill_day(store)
    yield store
    store.close()


def stored(store) -> tuple[Plan, dict[str, int]]:
    with store.read_session() as s:
        return repo.load_plan(s, DEPOT, DAY), repo.route_versions(s, DEPOT, DAY)


def move(store, routes: dict[str, list[str]], **kwargs) -> dict[str, int]:
    _, versions = stored(store)
    command = Command(DEPOT, DAY, routes, {rid: versions[rid] for rid in routes}, "ann",
                      "a move", kind=SET_ROUTE_STOPS, **kwargs)  # fmt: skip
    with store.session() as s:
        return apply_command(s, command)


def test_an_order_on_two_routes_is_refused_whole(day_store) -> None:
    """The "keep mine" corruption of the walk: R1's stale list (with O0 added) written while
    O0 is still on R0. Refused with the order named; both routes as they were."""
    before = stored(day_store)
    r1 = list(before[0].routes[1].order_ids)
    with pytest.raises(applier.InvariantViolation, match="order O0 would be on routes R0 and R1"):
        move(day_store, {"R1": ["O0", *r1]})
    assert stored(day_store) == before


def test_a_served_stop_never_moves(day_store) -> None:
    plan, versions = stored(day_store)
    r0 = plan.routes[0]
    served = (replace(r0.stops[0], status=StopStatus.DELIVERED), *r0.stops[1:])
    with day_store.session() as s:
        repo.update_route_stops(s, "R0", served, base_version=versions["R0"], actor="driver")
    before = stored(day_store)
    with pytest.raises(applier.CommandRefused, match="stop O0 was delivered on route R0"):
        move(day_store, {"R0": list(r0.order_ids[1:]), "R1": ["O0", *plan.routes[1].order_ids]})
    assert stored(day_store) == before


def test_a_locked_stop_stays_on_its_vehicle_unless_unlocked(day_store) -> None:
    plan, versions = stored(day_store)
    r0 = plan.routes[0]
    locked = (replace(r0.stops[0], locked=True), *r0.stops[1:])
    with day_store.session() as s:
        repo.update_route_stops(s, "R0", locked, base_version=versions["R0"], actor="ann")
    before = stored(day_store)
    moved = {"R0": list(r0.order_ids[1:]), "R1": ["O0", *plan.routes[1].order_ids]}
    with pytest.raises(applier.CommandRefused, match="stop O0 is locked on vehicle V0"):
        move(day_store, moved)
    assert stored(day_store) == before
    move(day_store, moved, locks={"O0": False})  # the same move that unlocks it passes
    assert stored(day_store)[0].routes[1].order_ids[0] == "O0"


def test_a_plan_save_never_drops_an_order(day_store) -> None:
    """A re-plan that leaves O3 off every route and out of the unassigned list is refused."""
    plan, versions = stored(day_store)
    r0 = replace(plan.routes[0], stops=plan.routes[0].stops[:3])
    change = PlanChange(plan.id, (r0,))
    command = Command(DEPOT, DAY, {}, {"R0": versions["R0"]}, "ann", "re-plan", kind=SAVE_PLAN,
                      plan=change)  # fmt: skip
    with pytest.raises(applier.CommandRefused, match="orders O3 would leave the plan"), \
            day_store.session() as s:  # fmt: skip
        apply_command(s, command)
    assert stored(day_store) == (plan, versions)


def test_the_desk_path_goes_through_the_same_checks(day_store) -> None:
    """A whole-plan write on the desk's own store (no shared database) that drops route R0
    without putting its orders in the unassigned list is refused by the same check."""
    plan, versions = stored(day_store)
    with pytest.raises(applier.CommandRefused, match="orders O0, O1, O2, O3 would leave"):
        write_routes(day_store, plan, [], actor="ann", audit={"command": "accept"},
                     base_versions=versions, drop=["R0"], whole=True)  # fmt: skip
    assert stored(day_store) == (plan, versions)


@dataclass(frozen=True)
class Touch:
    """A command kind added from outside the store (it writes nothing)."""

    depot_id: str
    day: object
    actor: str
    key: str = "k1"
    kind: str = "test_touch"


def test_a_new_kind_and_a_begin_hook(day_store) -> None:
    """A kind registered from outside runs through the same entry: the begin hook sees who
    does what first and may refuse it before anything is read."""
    seen: list[applier.CommandContext] = []

    def touch(session, command) -> applier.Applied:
        plan = applier.stored_plan(session, command.depot_id, command.day)
        return applier.Applied(plan.routes, plan.unassigned, plan.routes, plan.unassigned)

    def hook(session, context: applier.CommandContext) -> None:
        seen.append(context)
        if context.actor == "mallory":
            raise applier.CommandRefused("mallory may not touch the day")

    applier.register("test_touch", touch)
    applier.add_begin_hook(hook)
    try:
        with day_store.session() as s:
            applier.apply(s, Touch(DEPOT, DAY, "ann"))
        with pytest.raises(applier.CommandRefused, match="mallory"), day_store.session() as s:
            applier.apply(s, Touch(DEPOT, DAY, "mallory"))
    finally:
        applier.remove_begin_hook(hook)
        applier.unregister("test_touch")
    assert [(c.kind, c.actor) for c in seen] == [("test_touch", "ann"), ("test_touch", "mallory")]
    with pytest.raises(applier.CommandRefused, match="unknown kind"), day_store.session() as s:
        applier.apply(s, Touch(DEPOT, DAY, "ann", kind="nothing_like_it"))


def corrupt(store) -> None:
    """What the walk left behind: O0 on R0 and R1, O5 on R1 and in the unassigned list."""
    with store.session() as s:
        s.add(StopRow(route_id="R1", sequence=9, order_id="O0", status="planned", locked=False,
                      version=1))  # fmt: skip
        s.add(UnassignedRow(plan_id="PLAN", position=0, order_id="O5", reason="no_vehicle",
                            detail=""))  # fmt: skip


def test_db_check_reports_and_repairs_a_broken_day(
    day_store, store_url, tmp_path, monkeypatch, capsys
) -> None:
    """``python main.py db check`` names both problems and exits 1; ``--repair`` keeps O0
    on the route changed last and takes O5 out of the unassigned list; then the day loads
    and a second check finds nothing."""
    corrupt(day_store)
    with day_store.read_session() as s:
        assert [p.text for p in daycheck.check(s)] == [
            "order O0 is on routes R0, R1", "order O5 is on route R1 and in the unassigned list"
        ]  # fmt: skip
    monkeypatch.setenv("DISPATCH_DATABASE_URL", store_url)
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))  # no local copy of a shared day
    assert main(["db", "check"]) == 1
    out = capsys.readouterr().out
    assert "order O0 is on routes R0, R1" in out and "db check --repair" in out
    assert main(["db", "check", "--repair"]) == 1
    assert main(["db", "check"]) == 0
    plan, _ = stored(day_store)
    assert sum(r.order_ids.count("O0") for r in plan.routes) == 1
    assert [u.order_id for u in plan.unassigned] == []


def test_a_replan_that_breaks_a_lock_is_refused(day_store) -> None:
    """An accepted re-plan that moves a locked stop to another vehicle (lock kept on it) is
    refused with the stop named; "plan the day again", which drops the lock on purpose, is
    not."""
    plan, versions = stored(day_store)
    r0, r1 = plan.routes[0], plan.routes[1]
    with day_store.session() as s:
        locked = (replace(r0.stops[0], locked=True), *r0.stops[1:])
        repo.update_route_stops(s, "R0", locked, base_version=versions["R0"], actor="ann")
    plan, versions = stored(day_store)
    r0 = plan.routes[0]
    moved = (replace(r0, stops=r0.stops[1:]), replace(r1, stops=(r0.stops[0], *r1.stops)))
    with pytest.raises(applier.CommandRefused, match="stop O0 is locked on vehicle V0"):
        write_routes(day_store, plan, moved, actor="ann", audit={"command": "accept"},
                     base_versions=versions, whole=True, check_all=True)  # fmt: skip
    assert stored(day_store) == (plan, versions)
    dropped = (moved[0], replace(moved[1], stops=(replace(r0.stops[0], locked=False),
                                                  *r1.stops)))  # fmt: skip
    write_routes(day_store, plan, dropped, actor="ann", audit={"command": "accept"},
                 base_versions=versions, whole=True, check_all=True)  # fmt: skip
    assert stored(day_store)[0].routes[1].order_ids[0] == "O0"
