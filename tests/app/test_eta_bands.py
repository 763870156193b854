"""The live ETA band and the ETA samples kept for the accuracy KPIs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.store import repository_kpis as rk
from app.telemetry.monitor import MonitorResult
from app.telemetry.session import eta_bands
from engine.eta import RouteEta, StopEta
from engine.model import TimeWindow

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _result() -> MonitorResult:
    w = TimeWindow(T0, T0 + timedelta(hours=4))

    def stop(oid: str, eta_min: float) -> StopEta:
        eta = T0 + timedelta(minutes=eta_min)
        return StopEta("R1", "V1", oid, eta, eta, eta + timedelta(minutes=5), w)

    route = RouteEta("R1", "V1", (stop("A", 20), stop("B", 45)), 1.0, "live")
    return MonitorResult({"R1": route}, None, 0.0, T0)  # type: ignore[arg-type]


def test_the_band_widens_with_each_drive_and_service_before_a_stop():
    bands = eta_bands(_result(), travel_sigma=0.25, service_sigma=0.3)
    a = (bands["A"] - (T0 + timedelta(minutes=20))).total_seconds()
    b = (bands["B"] - (T0 + timedelta(minutes=45))).total_seconds()
    # A: a 20-minute drive, 25 % spread: 1.28 x 300 s.
    assert a == pytest.approx(1.2816 * 0.25 * 1200, rel=1e-3)
    assert b > a
    assert eta_bands(_result(), 0.0, 0.0)["B"] == T0 + timedelta(minutes=45)


def test_eta_samples_are_kept_once_per_stop_and_moment(store):
    rows = [rk.EtaSample("A", "R1", "V1", T0, T0 + timedelta(minutes=20))]
    with store.session() as s:
        assert rk.add_eta_samples(s, "D1", date(2026, 11, 24), rows) == 1
    with store.session() as s:
        assert rk.add_eta_samples(s, "D1", date(2026, 11, 24), rows) == 0
    with store.read_session() as s:
        assert len(rk.eta_samples(s, "D1", date(2026, 11, 24))) == 1
