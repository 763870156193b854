"""The assembled service: embedded broker + in-process simulator make a live demo day."""

from __future__ import annotations

from app.day.clock import DayClock
from app.settings import Settings
from app.simulator import Simulator, sweep_plan, synthetic_day
from app.simulator.driver import SimulatorDriver
from app.telemetry.service import TelemetryService


def test_demo_day_runs_live_through_the_embedded_broker(qtbot, tmp_path, monkeypatch):
    """Simulated vans move on the live state and exceptions are raised, all via MQTT."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    day = synthetic_day(4, seed=3)
    plan = sweep_plan(day)
    sim = Simulator(plan, day, seed=3)
    clock = DayClock(sim.start_time + 3 * 3600, speedup=30)
    settings = Settings(mqtt_url="", depot_id="SIM", workstation_id="test-ws")
    service = TelemetryService(
        settings, vehicles=[v.id for v in day.vehicles], clock=clock, eval_interval_ms=300
    )
    service.watch(plan, day.orders, depot=day.depots[0].location)
    service.start()
    driver = SimulatorDriver(service, sim)
    try:
        assert service.broker is not None and service.broker.port != 1883
        driver.start()
        with qtbot.waitSignal(service.sig_exceptions_changed, timeout=15_000) as blocker:
            pass
        assert blocker.args[0].opened
        moving = {v.vehicle_id for v in sim.vehicles} - {sim.incidents.silent}
        qtbot.waitUntil(lambda: moving <= set(service.feed.state.positions), timeout=10_000)
        assert service.ingest.rejected == 0, service.ingest.last_rejects()
    finally:
        driver.stop()
        service.stop()


def test_each_evaluation_goes_out_with_its_view_made_off_the_main_thread(qtbot, tmp_path):
    """What ``prepare`` makes of an evaluation is made on the evaluation's thread and goes
    out with it; when it fails, the evaluation and its exception changes still go out."""
    import threading

    from app.telemetry.monitor import LiveMonitor

    day = synthetic_day(3, seed=5)
    plan = sweep_plan(day)
    settings = Settings(mqtt_url="", depot_id="SIM", workstation_id="test-ws")
    service = TelemetryService(settings, vehicles=[v.id for v in day.vehicles])
    service.monitor = LiveMonitor(plan, day.orders, depot=day.depots[0].location)
    threads: list[str] = []

    def prepare(result):
        threads.append(threading.current_thread().name)
        return ("view", result.evaluated_at)

    service.prepare = prepare
    with qtbot.waitSignal(service.sig_results, timeout=10_000) as got:
        service._evaluate_async()
    result, view = got.args
    assert view == ("view", result.evaluated_at)
    assert threads == ["live-monitor"]  # not the main thread

    def broken(_result):
        raise RuntimeError("boom")

    service.prepare = broken
    qtbot.waitUntil(lambda: not service._evaluating.is_set(), timeout=10_000)  # pass over
    with qtbot.waitSignal(service.sig_results, timeout=10_000) as got:
        service._evaluate_async()
    assert got.args[0] is not None and got.args[1] is None
