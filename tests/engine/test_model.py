"""The domain types refuse to exist in a bad state."""

from datetime import UTC, datetime, timedelta

import pytest

from engine.model import Location, Order, Plan, Route, Stop, TimeWindow, Vehicle

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)


def _order(oid="O1", windows=None, **kw):
    windows = windows or (TimeWindow(T0, T0 + timedelta(hours=2)),)
    return Order(oid, "D1", Location(40.7, -111.9), {"kg": 10}, windows, **kw)


def test_location_rejects_out_of_range():
    """A latitude beyond 90 degrees is refused, naming the field."""
    with pytest.raises(ValueError, match="lat"):
        Location(95.0, 10.0)


def test_window_end_before_start_is_refused():
    """A delivery window that ends before it starts cannot be built."""
    with pytest.raises(ValueError, match="before start"):
        TimeWindow(T0, T0 - timedelta(minutes=1))


def test_naive_times_are_refused():
    """Times must carry a zone: a naive datetime is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        TimeWindow(datetime(2026, 11, 24, 8), datetime(2026, 11, 24, 9))


def test_order_windows_are_sorted_and_must_not_overlap():
    """Several windows come back sorted; overlapping ones are refused."""
    late = TimeWindow(T0 + timedelta(hours=5), T0 + timedelta(hours=6))
    early = TimeWindow(T0, T0 + timedelta(hours=1))
    assert _order(windows=(late, early)).windows == (early, late)
    with pytest.raises(ValueError, match="overlap"):
        _order(windows=(early, TimeWindow(T0 + timedelta(minutes=30), T0 + timedelta(hours=3))))


def test_negative_demand_is_refused_and_quantities_are_copied():
    """Demand can't be negative, and the caller's dict can't change an order afterwards."""
    with pytest.raises(ValueError, match="demand"):
        Order("O", "D", Location(0, 1), {"kg": -1}, (TimeWindow(T0, T0),))
    demand = {"kg": 5}
    order = Order("O", "D", Location(0, 1), demand, (TimeWindow(T0, T0),))
    demand["kg"] = 500
    assert order.demand["kg"] == 5


def test_vehicle_can_carry_checks_every_dimension():
    """A vehicle carries an order only if every dimension fits; unlisted capacity is zero."""
    van = Vehicle("V1", "D1", {"kg": 800, "m3": 6})
    assert van.can_carry({"kg": 800, "m3": 6})
    assert not van.can_carry({"kg": 10, "m3": 6.5})
    assert not van.can_carry({"pallets": 1})


def test_an_order_cannot_be_on_two_routes():
    """A plan that puts one order on two routes is refused."""
    r1 = Route("R1", "V1", (Stop("O1"),))
    r2 = Route("R2", "V2", (Stop("O1"),))
    with pytest.raises(ValueError, match="O1"):
        Plan("P", "D1", T0.date(), (r1, r2))
