"""Learning from history: shrunk service times with their fall-backs, zone x hour travel
factors, the learned travel model, the ETA band."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from engine.learning import (
    DrivenLeg,
    LearnedTravelModel,
    ServiceProfile,
    TravelProfile,
    Visit,
    ZoneGrid,
    eta_band,
    learn_service_times,
    learn_travel_factors,
    with_learned_service,
)
from engine.model import DayInput, Depot, Location, Order, TimeWindow
from engine.travel import HaversineTravelModel

DEPOT = Location(40.76, -111.95)
GRID = ZoneGrid(DEPOT, 2000.0)
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def order(oid, customer, address="", where=DEPOT, minutes=5):
    return Order(oid, "D", where, {}, (TimeWindow(T0, T0 + timedelta(hours=4)),),
                 timedelta(minutes=minutes), customer=customer, address=address)  # fmt: skip


def history(rng, customers, visits_each, noise=0.15):
    out = []
    for name, factor in customers.items():
        for k in range(visits_each[name]):
            seconds = 300 * factor * float(np.exp(rng.normal(0, noise)))
            out.append(Visit(f"{name}-{k}", name, f"{k} Main St {name}", DEPOT, 300, seconds))
    return out


def test_service_times_learn_each_customers_factor_and_shrink_thin_history():
    """A customer with many visits gets close to its own factor; one seen once is pulled
    towards the rest; a customer never seen falls back to the zone."""
    rng = np.random.default_rng(1)
    customers = {f"C{i}": float(np.exp(rng.normal(0, 0.35))) for i in range(60)}
    counts = {name: 8 for name in customers}
    counts["C0"] = 1
    profile = learn_service_times(history(rng, customers, counts), GRID)
    errors = [abs(profile.customers[c.lower()][1] - math.log(f)) for c, f in customers.items()]
    assert np.median(errors) < 0.08
    raw = math.log(customers["C0"])
    one = profile.customers["c0"][1]
    assert abs(one) < abs(raw) + 0.5 and profile.customers["c0"][0] == 1
    value, level = profile.log_ratio(order("x", "Someone New"))
    assert level == "zone" and value == pytest.approx(profile.zones[GRID.zone(DEPOT)][1])
    far = order("y", "Nobody", where=Location(41.5, -111.0))
    assert profile.log_ratio(far) == (profile.default, "default")


def test_an_address_seen_before_wins_over_its_customer():
    """An address with its own history is predicted from it (shrunk to its customer)."""
    visits = [Visit(f"o{k}", "Shop", "1 A St" if k < 6 else f"{k} B St", DEPOT, 300,
                    600.0 if k < 6 else 300.0) for k in range(20)]  # fmt: skip
    visits += [Visit(f"p{k}", f"Other{k}", "", DEPOT, 300, 300.0 * (1 + 0.1 * (k % 3)))
               for k in range(30)]  # fmt: skip
    profile = learn_service_times(visits, GRID)
    at_a = profile.predict(order("q", "Shop", "1 a st"))
    at_b = profile.predict(order("r", "Shop", "99 C St"))
    assert at_a > at_b
    assert profile.log_ratio(order("q", "Shop", "1 A St"))[1] == "address"
    assert profile.log_ratio(order("r", "Shop", "99 C St"))[1] == "customer"


def test_learned_service_times_reach_the_day_and_survive_json():
    """The day's orders take the learned times; the profile reads back from JSON equal."""
    visits = [Visit(f"o{k}", "Slow", "", DEPOT, 300, 600.0) for k in range(10)]
    visits += [Visit(f"p{k}", f"O{k}", "", DEPOT, 300, 300.0) for k in range(10)]
    profile = learn_service_times(visits, GRID)
    day = DayInput(date(2026, 11, 24), (Depot("D", "D", DEPOT),), (), (), (order("a", "Slow"),))
    learned = with_learned_service(day, profile)
    assert learned.orders[0].service_time > timedelta(minutes=9)
    again = ServiceProfile.from_json(profile.to_json())
    assert again.predict(day.orders[0]) == profile.predict(day.orders[0])
    empty = ServiceProfile.empty(GRID)
    assert empty.predict(day.orders[0]) == day.orders[0].service_time


def _legs(rng, truth, n=3000):
    """Legs inside one zone each, at hours 8 and 13, with actual = model x truth x noise."""
    out = []
    for _ in range(n):
        col, row = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        hour = int(rng.choice([8, 13]))
        k = math.cos(math.radians(DEPOT.lat)) * 111_320.0
        x0, y0 = (col + 0.2) * 2000, (row + 0.2) * 2000
        a = Location(DEPOT.lat + y0 / 110_574.0, DEPOT.lon + x0 / k)
        b = Location(DEPOT.lat + (y0 + 1000) / 110_574.0, DEPOT.lon + (x0 + 1000) / k)
        depart = datetime(2026, 11, 24, hour + 7, 0, tzinfo=UTC)  # Denver is UTC-7
        model = 300.0
        actual = model * truth[(col, row, hour)] * float(np.exp(rng.normal(0, 0.07)))
        out.append(DrivenLeg(a, b, depart, actual, model))
    return out


def test_travel_factors_recover_zone_and_hour_congestion():
    """Zones that are slow at the morning peak come out slow at 8 and not at 13."""
    rng = np.random.default_rng(2)
    truth = {(c, r, h): (0.6 if (c + r) % 2 and h == 8 else 0.95) ** -1
             for c in range(4) for r in range(4) for h in (8, 13)}  # fmt: skip
    profile = learn_travel_factors(_legs(rng, truth), GRID, "America/Denver")
    k = math.cos(math.radians(DEPOT.lat)) * 111_320.0
    for (c, r, h), want in truth.items():
        a = Location(DEPOT.lat + (r * 2000 + 400) / 110_574.0, DEPOT.lon + (c * 2000 + 400) / k)
        b = Location(DEPOT.lat + (r * 2000 + 1400) / 110_574.0, DEPOT.lon + (c * 2000 + 1400) / k)
        got = profile.factor(a, b, h)
        assert got == pytest.approx(want, rel=0.08), (c, r, h)
    again = TravelProfile.from_json(profile.to_json())
    assert again.factor(DEPOT, b, 8) == pytest.approx(profile.factor(DEPOT, b, 8))


def test_a_first_plans_factor_weighs_each_hour_by_how_much_the_fleet_drove_in_it():
    """History with three times as many drives at the slow 8 o'clock (each twice as long)
    as at 13: a plan made without a departure hour (a first plan) expects a drive to take
    the mean of the two hours' factors weighted by the driving, about 6:1 (in logs), not
    the flat mean over 08:00-17:00 that counted the evening the vans are back at the depot
    like the busy morning; one made for an hour takes that hour's factor. The weights
    survive JSON; a profile without them (an older one) keeps the working day's hours
    alike."""
    rng = np.random.default_rng(5)
    truth = {(c, r, h): 2.0 if h == 8 else 1.0 for c in range(4) for r in range(4)
             for h in (8, 13)}  # fmt: skip
    # Every drive at 8 (15:00 UTC) kept, a third of those at 13.
    legs = [leg for leg in _legs(rng, truth, 4000) if leg.depart.hour == 15 or rng.random() < 1 / 3]
    profile = learn_travel_factors(legs, GRID, "America/Denver")
    weights = dict(profile.mean_hours())
    driven8 = sum(g.seconds for g in legs if g.depart.hour == 15)
    driven13 = sum(g.seconds for g in legs if g.depart.hour == 20)
    assert weights[8] == pytest.approx(driven8 / (driven8 + driven13), abs=1e-4)
    assert 0.8 < weights[8] < 0.9 and set(weights) == {8, 13}
    a, b = DEPOT, Location(DEPOT.lat + 0.01, DEPOT.lon + 0.01)
    f8, f13 = profile.factor(a, b, 8), profile.factor(a, b, 13)
    want = math.exp(weights[8] * math.log(f8) + weights[13] * math.log(f13))
    assert profile.factor(a, b, None) == pytest.approx(want)
    assert profile.factor(a, b, None) > 1.75  # the flat mean of 8 and 13 would be about 1.41
    matrix = profile.factor_matrix([a, b], None)
    assert matrix[0, 1] == pytest.approx(want, rel=0.02)
    assert profile.factor_matrix([a, b], 13)[0, 1] == pytest.approx(f13, rel=0.02)
    again = TravelProfile.from_json(profile.to_json())
    assert again.factor(a, b, None) == pytest.approx(profile.factor(a, b, None))
    old = {k: v for k, v in profile.to_json().items() if k != "hour_weights"}
    flat = TravelProfile.from_json(old)
    assert dict(flat.mean_hours()) == {h: pytest.approx(0.1) for h in range(8, 18)}


def test_learned_travel_model_scales_the_base_models_durations():
    """The planner's matrices: base durations times the pair factors, distances unchanged."""
    rng = np.random.default_rng(3)
    truth = {(c, r, h): 1.5 for c in range(4) for r in range(4) for h in (8, 13)}
    profile = learn_travel_factors(_legs(rng, truth, 800), GRID, "America/Denver")
    base = HaversineTravelModel()
    model = LearnedTravelModel(base, profile)
    points = [Location(DEPOT.lat + 0.003 * i, DEPOT.lon + 0.004 * i) for i in range(5)]
    plain, learned = base.matrices(points), model.matrices(points)
    assert np.allclose(plain.distance_m, learned.distance_m)
    off = ~np.eye(5, dtype=bool)
    assert np.allclose(learned.duration_s[off] / plain.duration_s[off], 1.5, rtol=0.05)
    d, t = model.matrices_between(points[:2], points[2:], T0)
    assert t.shape == (2, 3) and np.all(t > 0)


def test_eta_band_grows_with_the_stops_before():
    """The 90th percentile lies further from the median the more stops and drives precede."""
    one = eta_band([600], [300], 0.2, 0.3)
    three = eta_band([600] * 3, [300] * 3, 0.2, 0.3)
    assert 0 < one < three
    assert one == pytest.approx(1.2816 * math.hypot(120, 90), rel=1e-3)


def test_learned_travel_over_a_model_without_a_rectangular_call_cuts_its_square():
    """A learned model over a base with square matrices only gives each source-target
    pair what its square matrices give (``engine.travel.travel_between``)."""
    from engine.travel import TravelMatrices

    class SquareOnly:
        def matrices(self, points, depart=None) -> TravelMatrices:
            return HaversineTravelModel().matrices(points, depart)

    rng = np.random.default_rng(3)
    truth = {(c, r, h): 1.5 for c in range(4) for r in range(4) for h in (8, 13)}
    profile = learn_travel_factors(_legs(rng, truth, 800), GRID, "America/Denver")
    pts = [Location(DEPOT.lat + 0.003 * i, DEPOT.lon + 0.004 * i) for i in range(4)]
    model = LearnedTravelModel(SquareOnly(), profile)
    distance, duration = model.matrices_between(pts[:1], pts[1:])
    square = model.matrices(pts)
    assert np.allclose(distance, square.distance_m[:1, 1:])
    assert np.allclose(duration, square.duration_s[:1, 1:])
