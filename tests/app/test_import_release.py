"""Docks, waves and order arrival times in the import format; late orders go to the next
wave; the whole day lands in the store."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.importer.reading import Source
from app.importer.validate import Known, validate_sources

DAY = date(2026, 11, 24)
TZ = ZoneInfo("America/Denver")
DEPOTS = "id,name,lat,lon,timezone,docks\nD1,Main,40.7608,-111.8910,America/Denver,3\n"
DOCKS = (
    "id,depot_id,name,prep_minutes,post_minutes,load_minutes_per_order\n"
    "D1-3,D1,Dock 3,10,5,2.5\n"
    "D1-9,D1,Overflow,,,\n"
)
WAVES = (
    "id,depot_id,cutoff,depart_from,depart_to,docks\n"
    "W1,D1,06:00,07:15,08:00,D1-1;Dock 2\n"
    "W2,D1,09:00,10:15,11:00,\n"
)
VEHICLES = "id,depot_id,capacity_kg\nV1,D1,800\n"
DRIVERS = "id,name,depot_id,shift_start,shift_end\nR1,Ann,D1,07:00,19:00\n"
ORDERS = "id,lat,lon,demand_kg,window_start,window_end,wave,received_at\n"


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=TZ)


def _validate(*files: tuple[str, str], known: Known | None = None):
    sources = [Source(name, text.encode()) for name, text in files]
    return validate_sources(sources, known or Known(), DAY)


def _report(validation, name):
    return next(f for f in validation.report.files if f.file == name)


def _items(validation, kind):
    return [i for b in validation.batches if b.kind == kind for i in b.items]


def test_docks_set_rates_and_waves_name_their_docks():
    """A docks file sets a dock's loading rates (or adds one); a wave names docks by id or
    by name; times are clock times on the day."""
    v = _validate(("depots.csv", DEPOTS), ("docks.csv", DOCKS), ("waves.csv", WAVES))
    assert not any(f.issues or f.error for f in v.report.files)
    docks = dict(_items(v, "docks"))  # depot id -> last dock; check both rows
    assert [(d, k.id, k.load_minutes_per_order) for d, k in _items(v, "docks")] == [
        ("D1", "D1-3", 2.5), ("D1", "D1-9", 1.0)]  # fmt: skip
    assert docks["D1"].name == "Overflow"
    w1, w2 = _items(v, "waves")
    assert (w1.cutoff, w1.depart_from, w1.depart_to) == (_at(6), _at(7, 15), _at(8))
    assert w1.docks == ("D1-1", "D1-2") and w2.docks == ()
    check = next(c for c in v.report.day_checks if c.name == "waves and docks") if (
        v.report.day_checks) else None  # fmt: skip
    assert check is None  # no orders or drivers: no day to check yet


def test_bad_wave_rows_are_refused_with_reasons():
    """Departures before the cut-off, a window ending before it starts, an unknown dock."""
    bad = (
        "id,depot_id,cutoff,depart_from,depart_to,docks\n"
        "W1,D1,08:00,07:00,09:00,\n"
        "W2,D1,06:00,09:00,08:00,\n"
        "W3,D1,06:00,07:00,08:00,Dock 7\n"
    )
    v = _validate(("depots.csv", DEPOTS), ("waves.csv", bad))
    issues = {(i.where, i.field): i.reason for i in _report(v, "waves.csv").issues}
    assert "before the cut-off" in issues[("2", "depart_from")]
    assert "before depart_from" in issues[("3", "depart_to")]
    assert "Dock 7" in issues[("4", "docks")]
    assert _items(v, "waves") == []


def test_an_order_after_its_cutoff_goes_to_the_next_wave_with_a_warning():
    """An order that came in after W1's cut-off is a W2 order (the warning says so); one
    after the last cut-off stays and the warning asks for a decision; in time stays."""
    orders = ORDERS + (
        "O1,40.70,-111.90,10,13:00,17:00,W1,2026-11-24T06:40:00-07:00\n"
        "O2,40.70,-111.90,10,13:00,17:00,W1,09:30\n"
        "O3,40.70,-111.90,10,13:00,17:00,W1,05:00\n"
    )
    v = _validate(("depots.csv", DEPOTS), ("waves.csv", WAVES), ("vehicles.csv", VEHICLES),
                  ("drivers.csv", DRIVERS), ("orders.csv", orders))  # fmt: skip
    report = _report(v, "orders.csv")
    assert not report.issues
    waves = {o.id: o.wave for o in _items(v, "orders")}
    assert waves == {"O1": "W2", "O2": "W1", "O3": "W1"}
    warnings = {w.where: w.reason for w in report.warnings}
    assert "goes with W2" in warnings["2"] and "after the last cut-off" in warnings["3"]
    assert "3" in warnings and "4" not in warnings
    assert next(o for o in _items(v, "orders") if o.id == "O1").received_at == _at(6, 40)
    check = next(c for c in v.report.day_checks if c.name == "waves and docks")
    assert check.ok and "W1 cut-off 06:00" in check.message


def test_orders_only_import_uses_the_stored_waves():
    """An orders file imported alone is checked against the waves already stored."""
    first = _validate(("depots.csv", DEPOTS), ("waves.csv", WAVES))
    known = Known(depots=tuple(_items(first, "depots")), waves=tuple(_items(first, "waves")))
    v = _validate(("orders.csv", ORDERS + "O1,40.70,-111.90,10,13:00,17:00,W1,07:00\n"),
                  known=known)  # fmt: skip
    assert [o.wave for o in _items(v, "orders")] == ["W2"]


def test_a_whole_release_day_lands_in_the_store(tmp_path):
    """Through the store: the depot's docks carry their rates, waves are stored with the
    day, and importing the same files again changes nothing."""
    from app.importer.persist import import_paths
    from app.store import open_store, repository

    for name, text in (
        ("depots.csv", DEPOTS),
        ("docks.csv", DOCKS),
        ("waves.csv", WAVES),
        ("vehicles.csv", VEHICLES),
        ("drivers.csv", DRIVERS),
        ("orders.csv", ORDERS + "O1,40.70,-111.90,10,13:00,17:00,W1,06:40\n"),
    ):
        (tmp_path / name).write_text(text)  # fmt: skip
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    report = import_paths([tmp_path], url, actor="t", day=DAY)
    assert report.rejected == 0
    again = import_paths([tmp_path], url, actor="t", day=DAY)
    assert all(f.inserted == 0 and f.updated == 0 for f in again.files)
    store = open_store(url)
    try:
        with store.read_session() as s:
            day = repository.load_day(s, "D1", DAY)
    finally:
        store.close()
    assert [k.id for k in day.depots[0].docks] == ["D1-1", "D1-2", "D1-3", "D1-9"]
    assert day.depots[0].docks[2].load_minutes_per_order == 2.5
    assert [w.id for w in day.waves] == ["W1", "W2"]
    assert day.orders[0].wave == "W2"
    # depots.csv again alone keeps the docks' rates
    report = import_paths([tmp_path / "depots.csv"], url, actor="t", day=DAY)
    store = open_store(url)
    try:
        with store.read_session() as s:
            assert (
                repository.load_day(s, "D1", DAY).depots[0].docks[2].load_minutes_per_order == 2.5
            )
    finally:
        store.close()
