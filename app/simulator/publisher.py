"""A paho publisher for the simulator and the benchmark, with a QoS 1 send window."""

from __future__ import annotations

import logging
import time
import uuid

import paho.mqtt.client as mqtt

from app.telemetry.mqtt_client import MqttConfig

log = logging.getLogger(__name__)


class Publisher:
    """Connects to a broker URL and publishes (topic, payload) pairs."""

    def __init__(
        self,
        url: str,
        *,
        qos: int = 1,
        client_id: str | None = None,
        username: str = "",
        password: str = "",
        ca_file: str = "",
    ) -> None:
        self.config = MqttConfig(
            url=url,
            client_id=client_id or f"sim-{uuid.uuid4().hex[:8]}",
            username=username,
            password=password,
            ca_file=ca_file,
        )
        self.qos = qos
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv311,
        )
        user, password = self.config.credentials
        if user:
            self.client.username_pw_set(user, password or None)
        if self.config.tls:
            self.client.tls_set(ca_certs=self.config.ca_file or None)
        self.client.max_inflight_messages_set(2000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 4)
        self.client.on_connect = self._on_connect
        self.refused = ""
        self.sent = 0

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.refused = f"refused: {reason_code}" if reason_code.is_failure else ""

    def connect(self, timeout: float = 10.0) -> Publisher:
        self.client.connect_async(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.client.is_connected():
            if time.monotonic() > deadline or self.refused:
                self.client.loop_stop()
                why = (
                    f"the MQTT broker at {self.config.host}:{self.config.port} {self.refused}"
                    if self.refused
                    else f"cannot reach the MQTT broker at {self.config.host}:{self.config.port}"
                )
                raise ConnectionError(why)
            time.sleep(0.02)
        return self

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish; waits (instead of dropping) when the QoS 1 window is full."""
        while True:
            info = self.client.publish(topic, payload, qos=self.qos, retain=retain)
            if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                break
            time.sleep(0.005)
        self.sent += 1

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until QoS 1 messages are acknowledged (best effort for QoS 0)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.client._out_messages:  # paho keeps unacknowledged messages here
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.drain(5.0)
        self.client.disconnect()
        self.client.loop_stop()
