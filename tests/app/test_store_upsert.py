"""Upserts are idempotent by id; a real change bumps the version and is change-logged."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import func, select

from app.store import repository
from app.store.models import ChangeLogRow, DepotRow, OrderRow, VehicleRow
from engine.model import Dock, TimeWindow
from tests.app.test_store_support import ACTOR, DAY, sample_day, seed


def _log_count(s) -> int:
    return s.scalar(select(func.count()).select_from(ChangeLogRow))


def test_first_upsert_inserts_and_logs_each_row(store):
    """A first import inserts every row and writes one change-log row per row."""
    day = sample_day()
    with store.session() as s:
        assert repository.upsert_depots(s, day.depots, actor=ACTOR).inserted == 1
        counts = repository.upsert_orders(s, day.orders, actor=ACTOR)
        assert (counts.inserted, counts.updated, counts.unchanged) == (3, 0, 0)
        ops = s.execute(select(ChangeLogRow.entity, ChangeLogRow.operation)).all()
        log = s.scalars(select(ChangeLogRow)).first()
    assert sorted(ops) == [("depot", "insert")] + [("order", "insert")] * 3
    assert log.origin == "test-desk" and log.actor == ACTOR and log.after["id"] == "SLC"
    assert log.at.tzinfo is not None


def test_identical_upsert_changes_nothing(store):
    """Importing the same data again: 0 inserted, 0 updated, all unchanged, no new log rows,
    no version bump."""
    day = seed(store)
    with store.session() as s:
        logged = _log_count(s)
        versions = dict(s.execute(select(OrderRow.id, OrderRow.version)).all())
        results = [
            repository.upsert_depots(s, day.depots, actor=ACTOR),
            repository.upsert_vehicles(s, day.vehicles, actor=ACTOR),
            repository.upsert_drivers(s, day.drivers, actor=ACTOR),
            repository.upsert_orders(s, day.orders, actor=ACTOR),
        ]
    for counts, n in zip(results, (1, 2, 2, 3), strict=True):
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, n)
    with store.session() as s:
        assert _log_count(s) == logged
        assert dict(s.execute(select(OrderRow.id, OrderRow.version)).all()) == versions


def test_changed_row_bumps_version_and_logs_before_after(store):
    """Changing one vehicle updates it, raises its version by one and logs before/after."""
    day = seed(store)
    changed = dataclasses.replace(day.vehicles[0], capacity={"kg": 1000.0, "m3": 9.5})
    with store.session() as s:
        logged = _log_count(s)
        counts = repository.upsert_vehicles(s, [changed, day.vehicles[1]], actor="kim@desk-2")
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    with store.session() as s:
        assert s.get(VehicleRow, "V01").version == 2
        assert s.get(VehicleRow, "V02").version == 1
        assert _log_count(s) == logged + 1
        entry = s.scalars(select(ChangeLogRow).order_by(ChangeLogRow.id.desc())).first()
        v01 = next(v for v in repository.load_day(s, "SLC", DAY).vehicles if v.id == "V01")
    assert (entry.entity, entry.entity_id, entry.operation) == ("vehicle", "V01", "update")
    assert entry.before["capacity"]["kg"] == 1200.0 and entry.after["capacity"]["kg"] == 1000.0
    assert entry.actor == "kim@desk-2"
    assert v01 == changed


def test_child_change_bumps_the_parent(store):
    """A moved delivery window or a new dock is a change of the order / depot."""
    day = seed(store)
    order = day.orders[1]
    moved = dataclasses.replace(
        order, windows=(TimeWindow(order.earliest + timedelta(hours=1), order.latest),)
    )
    depot = dataclasses.replace(day.depots[0], docks=(*day.depots[0].docks, Dock("D3")))
    with store.session() as s:
        assert repository.upsert_orders(s, [moved], actor=ACTOR).updated == 1
        assert repository.upsert_depots(s, [depot], actor=ACTOR).updated == 1
    with store.session() as s:
        assert s.get(OrderRow, order.id).version == 2
        assert s.get(DepotRow, "SLC").version == 2
        loaded = repository.load_day(s, "SLC", DAY)
    assert next(o for o in loaded.orders if o.id == order.id) == moved
    assert loaded.depots[0].docks == depot.docks


def test_same_instant_in_another_zone_is_unchanged(store):
    """A re-import that writes the same times with another UTC offset changes nothing."""
    day = seed(store)
    order = day.orders[0]
    from datetime import UTC

    in_utc = dataclasses.replace(
        order,
        windows=tuple(
            TimeWindow(w.start.astimezone(UTC), w.end.astimezone(UTC)) for w in order.windows
        ),
    )
    with store.session() as s:
        assert repository.upsert_orders(s, [in_utc], actor=ACTOR).unchanged == 1


def test_outside_day_is_counted(store):
    """With ``day`` given, orders of other depot-local days are stored and counted."""
    from tests.app.test_store_support import next_day_order

    day = seed(store)
    with store.session() as s:
        counts = repository.upsert_orders(s, [*day.orders, next_day_order()], actor=ACTOR, day=DAY)
    assert counts.outside_day == 1 and counts.unchanged == 4
