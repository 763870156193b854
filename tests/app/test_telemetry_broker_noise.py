"""The embedded broker's delivery timeouts (a busy desk) are counted, not a traceback each."""

from __future__ import annotations

import logging

from app.telemetry.broker import DELIVERY_TIMEOUTS


def test_delivery_timeouts_are_counted_and_said_once_a_minute(caplog) -> None:
    before, late_before = DELIVERY_TIMEOUTS.count, DELIVERY_TIMEOUTS.late
    DELIVERY_TIMEOUTS._said_at = 0.0
    handler = logging.getLogger("amqtt.mqtt.protocol.handler")
    broker = logging.getLogger("amqtt.broker")
    with caplog.at_level(logging.WARNING):
        for packet in range(20):
            handler.warning(f"Timeout waiting for PUBACK for packet ID {packet}")
            try:
                raise TimeoutError(f"Timeout waiting for PUBACK for packet ID {packet}")
            except TimeoutError:
                broker.exception("Task failed and will be skipped: <Task ...>")
            if packet % 2:  # the desk answers after all, once the broker gave up
                handler.warning(f"Received PUBACK for unknown pending message Id: '{packet}'")
        broker.warning("something else")
    assert DELIVERY_TIMEOUTS.count - before == 20
    assert DELIVERY_TIMEOUTS.late - late_before == 10
    texts = [r.getMessage() for r in caplog.records]
    said = [t for t in texts if "did not answer within 5 s" in t]
    assert len(said) == 1  # one line, not 20 warnings, 20 tracebacks and 10 late answers
    assert not any(r.exc_info for r in caplog.records)
    assert "something else" in texts
