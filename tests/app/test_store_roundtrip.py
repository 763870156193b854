"""Domain types survive the store unchanged, with their time zones' instants intact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

import pytest

from app.store import repository
from tests.app.test_store_support import ACTOR, DAY, next_day_order, sample_day, seed


def test_day_round_trips_exactly(store):
    """Depot, vehicles, drivers and orders come back equal to what was stored."""
    day = seed(store)
    with store.read_session() as s:
        loaded = repository.load_day(s, "SLC", DAY)
    assert loaded.depots == day.depots
    assert loaded.vehicles == day.vehicles
    assert loaded.drivers == day.drivers
    assert loaded.orders == day.orders
    assert loaded.dimensions == ("kg", "m3")


def test_times_come_back_timezone_aware(store):
    """Every time read back is aware (UTC) and names the same instant as the one stored."""
    day = seed(store)
    with store.session() as s:
        loaded = repository.load_day(s, "SLC", DAY)
    original = {o.id: o for o in day.orders}
    for order in loaded.orders:
        for got, want in zip(order.windows, original[order.id].windows, strict=True):
            assert got.start.utcoffset() == timedelta(0) and got.start == want.start
            assert got.end.tzinfo is not None and got.end == want.end
    driver = next(d for d in loaded.drivers if d.breaks)
    assert driver.breaks[0].earliest.tzinfo is not None
    assert driver.shift_start.astimezone(UTC).hour == 14  # 07:00 in Denver (MST)


def test_load_day_uses_the_depots_local_day(store):
    """An order at 23:30 local belongs to the day even though it is tomorrow in UTC; one at
    00:30 local the next day does not."""
    seed(store)
    with store.session() as s:
        ids = {o.id for o in repository.load_day(s, "SLC", DAY).orders}
        next_ids = {o.id for o in repository.load_day(s, "SLC", DAY + timedelta(days=1)).orders}
    assert ids == {"O1", "O2", "O3"}
    assert next_ids == {next_day_order().id}


def test_load_day_of_unknown_depot_names_the_known_ones(store):
    """Asking for a depot that is not stored says which depots are."""
    seed(store)
    with pytest.raises(KeyError, match="no depot 'XYZ'.*known: SLC"), store.session() as s:
        repository.load_day(s, "XYZ", DAY)


def test_list_depots_and_known_ids(store):
    """The depot list and the known ids reflect what was imported."""
    seed(store)
    with store.session() as s:
        assert [d.id for d in repository.list_depots(s)] == ["SLC"]
        assert repository.known_ids(s, "order") == {"O1", "O2", "O3", "O9"}
        assert repository.known_ids(s, "vehicles") == {"V01", "V02"}
        assert repository.known_ids(s, "driver") == {"DR1", "DR2"}
        with pytest.raises(ValueError, match="kind must be one of"):
            repository.known_ids(s, "parcel")


def test_order_of_unknown_depot_is_rejected(store):
    """Orders of a depot that is not stored are refused with the order, the depot and what
    to do, and nothing of the batch is written."""
    day = sample_day()
    message = "order O1: depot 'SLC' is not in the store.*import the depot first"
    with pytest.raises(ValueError, match=message), store.session() as s:
        repository.upsert_orders(s, day.orders, actor=ACTOR)
    with store.session() as s:
        assert repository.known_ids(s, "order") == set()


def test_sqlite_times_read_back_as_the_instants_of_their_text(tmp_path):
    """SQLite keeps times as naive UTC text; whatever wrote it (the desk, with microseconds,
    or another tool: whole seconds, a 'T', an offset of its own, a date alone) it reads back
    aware, UTC, the same instant."""
    from datetime import datetime

    from sqlalchemy import select, text

    from app.store import open_store
    from app.store.models import DepotRow

    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}")
    try:
        written = {"a": "2026-12-07 08:03:08.761204", "b": "2026-12-07 08:03:08",
                   "c": "2026-12-07T08:03:08.5", "d": "2026-12-07 10:03:08+02:00",
                   "e": "2026-12-07"}  # fmt: skip
        with store.session() as s:
            for key, at in written.items():
                s.execute(text("INSERT INTO depot (id, name, lat, lon, timezone, address, "
                               "updated_at, updated_by, version) VALUES (:id, 'x', 0, 0, "
                               "'UTC', '', :at, 't', 1)"), {"id": key, "at": at})  # fmt: skip
        with store.read_session() as s:
            got = {i: at for i, at in s.execute(select(DepotRow.id, DepotRow.updated_at))}
    finally:
        store.close()
    assert got == {
        "a": datetime(2026, 12, 7, 8, 3, 8, 761204, tzinfo=UTC),
        "b": datetime(2026, 12, 7, 8, 3, 8, tzinfo=UTC),
        "c": datetime(2026, 12, 7, 8, 3, 8, 500000, tzinfo=UTC),
        "d": datetime(2026, 12, 7, 8, 3, 8, tzinfo=UTC),
        "e": datetime(2026, 12, 7, tzinfo=UTC),
    }
    assert all(at.utcoffset() == timedelta(0) for at in got.values())


def test_orders_with_the_same_windows_share_them_as_read_back(store):
    """A big day's orders share a handful of windows: read back, orders whose windows are
    equal hold the very same (immutable) windows, still equal to those stored."""
    base = sample_day()
    twins = tuple(replace(o, id=f"{o.id}-twin") for o in base.orders)  # the same windows
    day = seed(store, replace(base, orders=base.orders + twins))
    with store.read_session() as s:
        loaded = repository.load_day(s, "SLC", DAY)
    assert loaded.orders == tuple(sorted(day.orders, key=lambda o: o.id))
    by_value: dict[tuple, list] = {}
    for order in loaded.orders:
        by_value.setdefault(order.windows, []).append(order.windows)
    assert any(len(same) > 1 for same in by_value.values())
    for same in by_value.values():
        assert all(w is same[0] for w in same)
