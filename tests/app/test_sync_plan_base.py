"""Plans are based on what they saw: a fresh plan or a fleet re-plan carries the plan and
route versions it started from, and a change stored meanwhile makes it a conflict (or a
refusal to re-run on top), never a silent overwrite. Desks starting together on an empty
shared database seed the demo day once, and an unplanned day is planned by one desk."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from app.day.opening import open_depot_day
from app.dispatch.service import DispatchService
from app.settings import Settings
from app.store import StaleVersionError, open_store
from app.store import repository as repo
from app.sync.offline import plan_command
from bench.drills.day import DAY, DEPOT, drill_day, seed_drill_day
from tests.app.test_sync_commands import replanned
from tests.app.test_sync_support import desk, orders, rotated, shared_store, versions

pytestmark = pytest.mark.postgres


def fresh_plan(store):
    """A new plan of the drill day: every route reversed (a different plan id)."""
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    routes = tuple(replace(r, id=f"N{r.id}", stops=r.stops[::-1]) for r in plan.routes)
    return replace(plan, id="NEW", routes=routes)


def test_a_plan_finished_after_an_edit_elsewhere_is_a_conflict(
    postgres_url: str, tmp_path: Path
) -> None:
    """The walk's lost update: Ann starts planning the day, Bob moves a stop and it is
    stored, Ann's plan finishes. Offline it waits and comes back as a conflict; caught up
    it is refused at once. Bob's move stays either way."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    started = ("PLAN", versions(a.local))  # what Ann's planning started from
    bobs = rotated(orders(b.local)["R2"])
    b.execute({"R2": bobs}, actor="bob")
    assert b.sync().applied == 1
    assert a.sync().refreshed  # Ann's copy has Bob's move now
    with pytest.raises(StaleVersionError):
        a.save_plan(fresh_plan(a.local), actor="ann", based_on=started)
    assert a.pending_count() == 0 and orders(a.local)["R2"] == bobs
    a.work_offline = True  # the same, with the local copy behind: a conflict on replay
    c = desk(tmp_path, "desk-c", postgres_url)
    started = ("PLAN", versions(c.local))
    b.execute({"R3": rotated(orders(b.local)["R3"])}, actor="bob")
    assert b.sync().applied == 1
    c.work_offline = True
    c.save_plan(fresh_plan(c.local), actor="cy", based_on=started)
    c.work_offline = False
    assert c.sync().conflicts == 1
    assert orders(shared)["R2"] == bobs and "NR0" not in orders(shared)


def test_a_fleet_replan_accepted_after_an_edit_is_a_conflict(tmp_path: Path) -> None:
    """A fleet re-plan made from the plan before Bob's edit of R5 and accepted after it:
    refused as a conflict (R5 named), Bob's R5 kept; a re-plan made after it is accepted."""
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="desk")
    seed_drill_day(store)
    ann = DispatchService(store, None, actor="ann", role="supervisor")
    before = ann.load_plan(DEPOT, DAY)
    proposal = replanned(before)
    ann.note_replan_base(proposal, before)  # the re-plan job remembers what it saw
    with store.session() as s:
        bobs = rotated(list(before.routes[5].order_ids))
        r5 = before.routes[5]
        stops = {st.order_id: st for st in r5.stops}
        repo.update_route_stops(s, "R5", [stops[o] for o in bobs],
                                base_version=repo.route_versions(s, DEPOT, DAY)["R5"],
                                actor="bob")  # fmt: skip
    now = ann.load_plan(DEPOT, DAY)  # what the window shows when Ann clicks Accept
    with pytest.raises(StaleVersionError, match="R5"):
        ann.accept_proposal(now, proposal)
    assert list(ann.load_plan(DEPOT, DAY).routes[5].order_ids) == bobs
    again = replanned(now)
    ann.note_replan_base(again, now)
    ann.accept_proposal(now, again)
    assert list(ann.load_plan(DEPOT, DAY).routes[5].order_ids) == bobs


def test_desks_starting_together_on_an_empty_database_seed_once(postgres_url: str) -> None:
    """Four desks open the demo day at once on an empty shared database: none fails, the
    demo orders are there once."""
    store = open_store(postgres_url, workstation="setup")
    settings = Settings.from_env({}, demo=True)
    errors: list[BaseException] = []
    seeded: list[int] = []
    gate = threading.Barrier(4)

    def start() -> None:
        desk_store = open_store(postgres_url, workstation="desk", migrate=False)
        try:
            gate.wait()
            opened = open_depot_day(desk_store, settings, may_seed=True, actor="ann")
            seeded.append(opened.seeded if opened else -1)
        except BaseException as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(exc)
        finally:
            desk_store.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(seeded)[:3] == [0, 0, 0] and seeded.count(0) == 3
    opened = open_depot_day(store, settings, may_seed=False, actor="ann")
    assert opened is not None and len(opened.day.orders) == max(seeded) > 0


def test_an_unplanned_day_is_planned_by_one_desk(postgres_url: str, tmp_path: Path) -> None:
    """Ann claims the first plan; Bob is told she is planning and waits; once her plan is
    stored there is nothing left to claim."""
    store = open_store(postgres_url, workstation="setup")
    day, plan = drill_day()
    with store.session() as s:
        repo.upsert_depots(s, day.depots, actor="setup")
        repo.upsert_vehicles(s, day.vehicles, actor="setup")
        repo.upsert_orders(s, day.orders, actor="setup")
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    assert a.claim_first_plan("ann@desk-a") is None
    assert "ann@desk-a" in (b.claim_first_plan("bob@desk-b") or "")
    a.save_plan(plan, actor="ann@desk-a")
    assert a.sync().applied == 1
    assert b.claim_first_plan("bob@desk-b") == "a plan is stored already"
    assert b.sync().refreshed and orders(b.local) == orders(a.local)
    with store.read_session() as s:
        assert plan_command(s, plan, actor="x").plan.base_plan == "PLAN"
