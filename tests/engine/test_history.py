"""A recorded day read back: stop visits, service and legs for learning, trail totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.history import StopEvent, Track, TrackTally, day_history, stop_visits, track_figures
from engine.model import Location, Order, TimeWindow

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
DEPOT = Location(40.76, -111.95)


def ev(stop, kind, minutes, vehicle="V1"):
    return StopEvent(vehicle, stop, kind, T0 + timedelta(minutes=minutes))


def order(oid, lat, window_start=0):
    w = TimeWindow(T0 + timedelta(minutes=window_start), T0 + timedelta(hours=5))
    return Order(oid, "D", Location(lat, -111.95), {}, (w,), timedelta(minutes=5), customer=oid)


def straight_track(seconds=3600, noise_m=0.0, seed=0):
    """A van driving north at 36 km/h for half the time, then standing (1 Hz fixes)."""
    rng = np.random.default_rng(seed)
    ts = T0.timestamp() + np.arange(seconds, dtype=float)
    metres = np.minimum(np.arange(seconds), seconds // 2) * 10.0
    lat = DEPOT.lat + 0.05 + metres / 110_574.0 + rng.normal(0, noise_m, seconds) / 110_574.0
    lon = np.full(seconds, DEPOT.lon) + rng.normal(0, noise_m, seconds) / 84_000.0
    return Track(ts, lat, lon)


def test_stop_visits_take_first_arrival_last_outcome_and_attempts():
    """Attempts count delivered/failed events; a second attempt that delivers counts."""
    events = [ev("A", "arrived", 10), ev("A", "failed", 14), ev("A", "departed", 14),
              ev("A", "arrived", 50), ev("A", "delivered", 55), ev("A", "departed", 56)]  # fmt: skip
    v = stop_visits(events)["A"]
    assert v.attempts == 2 and v.delivered
    assert v.arrived == (T0 + timedelta(minutes=10)).timestamp()
    assert v.departed == (T0 + timedelta(minutes=56)).timestamp()
    assert not v.first_delivered  # its first attempt failed


def test_a_first_attempt_that_delivered_stays_a_first_attempt_success():
    """docs/kpis.md: the first attempt succeeded when the first delivered/failed event is
    ``delivered`` — also when the device sent the delivery twice (two attempts counted)."""
    events = [ev("A", "arrived", 10), ev("A", "delivered", 14), ev("A", "delivered", 15)]
    v = stop_visits(events)["A"]
    assert v.attempts == 2 and v.first_delivered


def test_day_history_service_waits_for_the_window_and_legs_join_stops():
    """Service runs from the window's opening when the van came early; legs run departure
    to arrival, the first from the last fix at the depot."""
    orders = {"A": order("A", 40.77, window_start=20), "B": order("B", 40.78)}
    events = [ev("A", "arrived", 10), ev("A", "delivered", 27), ev("A", "departed", 27),
              ev("B", "arrived", 40), ev("B", "delivered", 46), ev("B", "departed", 46)]  # fmt: skip
    ts = np.array([(T0 + timedelta(minutes=m)).timestamp() for m in (0, 2, 4, 6)])
    track = Track(ts, np.array([DEPOT.lat, DEPOT.lat, 40.765, 40.768]), np.full(4, DEPOT.lon))
    visits, legs = day_history(events, {"V1": track}, orders, DEPOT, lambda a, b: 600.0)
    services = {v.order_id: v.observed_s for v in visits}
    assert services == {"A": pytest.approx(7 * 60), "B": pytest.approx(6 * 60)}
    assert [round(leg.seconds) for leg in legs] == [8 * 60, 13 * 60]
    assert legs[0].start == DEPOT and legs[1].end == orders["B"].location


def test_trail_distance_ignores_gps_noise_while_standing():
    """Standing with 4 m GPS noise adds no distance and counts as still time."""
    clean = track_figures(straight_track())
    noisy = track_figures(straight_track(noise_m=4.0))
    assert clean.distance_m == pytest.approx(18_000, rel=0.01)
    assert noisy.distance_m == pytest.approx(18_000, rel=0.03)
    assert noisy.still_s == pytest.approx(1800, abs=60)
    assert noisy.idle_s == pytest.approx(noisy.still_s)  # away from the depot and any stop


def test_tally_fed_in_pieces_adds_up_like_the_whole_trail():
    """Running totals fed batch by batch equal the whole trail's, and survive JSON."""
    track = straight_track(noise_m=4.0)
    whole = track_figures(track)
    tally = TrackTally()
    for lo in range(0, len(track), 700):
        part = slice(lo, lo + 700)
        tally.add(track.ts[part], track.lat[part], track.lon[part], depot=DEPOT)
        tally = TrackTally.from_json(tally.to_json())
    got = tally.figures()
    assert got.distance_m == pytest.approx(whole.distance_m, rel=0.01)
    assert got.still_s == pytest.approx(whole.still_s, abs=30)
    half = tally.figures(track.ts[0], track.ts[0] + 1800)
    assert half.distance_m == pytest.approx(18_000, rel=0.02) and half.still_s < 60


def test_tally_sees_the_van_leave_and_come_back():
    """Leaving the depot and coming back are noted with their times."""
    ts = T0.timestamp() + np.arange(0, 600, 10.0)
    lat = np.where((ts - ts[0] > 100) & (ts - ts[0] < 400), DEPOT.lat + 0.01, DEPOT.lat)
    tally = TrackTally()
    tally.add(ts, lat, np.full(len(ts), DEPOT.lon), depot=DEPOT)
    assert tally.exits == [ts[0] + 110] and tally.returns == [ts[0] + 400]
