"""The release room's MQTT connection: routes out (retained, QoS 1), dock events and
route acknowledgements in.

Its own client id (the workstation's, suffixed ``-release``) and persistent session, so
acknowledgements and scans sent while the workstation was away arrive when it is back.
``publish`` waits for the broker's PUBACK of every message (a route only counts as sent
once the broker has it); messages in arrive on paho's network thread and go straight to the
inbox's decoder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.release.messages import ack_topic, dock_topic
from app.telemetry.mqtt_client import MqttConfig, paho_client

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0


class NotConnected(ConnectionError):
    """The broker is not reachable: nothing was sent."""


@dataclass(frozen=True)
class Outgoing:
    """One message to publish (retained by default)."""

    topic: str
    payload: bytes
    retain: bool = True


class ReleaseChannel:
    """Publish route messages; receive dock events and acknowledgements."""

    def __init__(
        self,
        config: MqttConfig,
        depot_id: str,
        on_message: Callable[[str, bytes], None] | None = None,
        *,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.config = replace(config, client_id=f"{config.client_id}-release")
        self.depot_id = depot_id
        self.on_message = on_message
        self.on_state = on_state
        self.state = "disconnected"
        self.client = paho_client(self.config)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_paho_message
        self._connected = threading.Event()

    def topics(self) -> list[str]:
        return [dock_topic(self.depot_id), ack_topic(self.depot_id)]

    def start(self) -> ReleaseChannel:
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = cfg.session_expiry_s
            kwargs = {"clean_start": False, "properties": props}
        self._set_state("connecting")
        self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, **kwargs)
        self.client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._set_state("disconnected")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def publish(self, items: Sequence[Outgoing], timeout: float = PUBLISH_TIMEOUT_S) -> int:
        """Publish at QoS 1 and wait until the broker acknowledged each; returns how many it
        did. Raises ``NotConnected`` (nothing sent) when the broker is not reachable."""
        if not items:
            return 0
        if not self._connected.is_set():
            raise NotConnected(f"the broker at {self.config.host}:{self.config.port} is not "
                               "connected: the routes were not sent")  # fmt: skip
        infos = []
        for item in items:
            while True:
                info = self.client.publish(item.topic, item.payload, qos=1, retain=item.retain)
                if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                    break
                time.sleep(0.005)
            infos.append(info)
        deadline = time.monotonic() + timeout
        done = 0
        for info in infos:
            left = deadline - time.monotonic()
            if left > 0:
                try:
                    info.wait_for_publish(left)
                except (RuntimeError, ValueError) as exc:  # disconnected meanwhile
                    log.warning("route publish not confirmed: %s", exc)
            done += info.is_published()
        return done

    # -- paho callbacks (network thread) ------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.state = state
        if self.on_state is not None:
            self.on_state(state)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("release channel refused by %s: %s", self.config.host, reason_code)
            self._set_state("disconnected")
            return
        # Connected once the broker confirmed the subscriptions (_on_subscribe): a scan or
        # an acknowledgement sent before that would not be delivered to this desk.
        client.subscribe([(topic, 1) for topic in self.topics()])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._connected.set()
        self._set_state("connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._set_state("connecting")

    def _on_paho_message(self, client, userdata, message) -> None:
        if self.on_message is not None:
            self.on_message(message.topic, message.payload)
