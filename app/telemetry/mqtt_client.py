"""The workstation's MQTT connection: persistent session, auto-reconnect, decode in-thread.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) with ``loop_start()``: paho's network thread
reconnects by itself (1-4 s back-off) and calls :meth:`Ingest.on_paho_message` for every
message, which buffers it; the same thread decodes and validates every full batch. The session is persistent — a fixed
client id per workstation, MQTT 5 ``clean_start=False`` with a session expiry (3.1.1:
``clean_session=False``) — so QoS 1 messages sent while the workstation was away arrive
when it is back. The connection state goes to the ingest (and an optional callback).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.telemetry.ingest import Ingest

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600


@dataclass(frozen=True)
class MqttConfig:
    """Everything needed to connect; built from Settings (an immutable snapshot)."""

    url: str
    client_id: str
    depot_id: str = "+"
    username: str = ""
    password: str = ""
    ca_file: str = ""
    protocol: str = "5"  # "5" or "3.1.1" (amqtt)
    traccar_topic: str = "traccar/+"
    owntracks: bool = True
    qos: int = 1
    keepalive_s: int = 30
    session_expiry_s: int = SESSION_EXPIRY_S

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(
                f"MQTT URL {self.url!r}: scheme must be mqtt:// or mqtts://, got {parsed.scheme!r}"
            )
        if not parsed.hostname:
            raise ValueError(f"MQTT URL {self.url!r}: no host name")
        if self.protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol {self.protocol!r}: expected '5' or '3.1.1'")
        if not self.client_id:
            raise ValueError("MQTT client id must not be empty (it keeps the session)")

    @classmethod
    def from_settings(cls, settings, url: str | None = None, **overrides) -> MqttConfig:
        """From Settings; ``url`` overrides ``settings.mqtt_url`` (the embedded broker's)."""
        return cls(
            url=url or settings.mqtt_url,
            client_id=f"dispatch-desk-{settings.workstation_id}",
            depot_id=settings.depot_id or "+",
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            ca_file=settings.mqtt_ca_file,
            **overrides,
        )

    @property
    def tls(self) -> bool:
        return urlparse(self.url).scheme in ("mqtts", "ssl")

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlparse(self.url).port or (8883 if self.tls else 1883)

    @property
    def credentials(self) -> tuple[str, str]:
        """User and password: from the URL when it carries them, else the fields."""
        parsed = urlparse(self.url)
        if parsed.username:
            return unquote(parsed.username), unquote(parsed.password or "")
        return self.username, self.password

    def topics(self) -> list[str]:
        """The subscriptions: native telemetry and events, OwnTracks, Traccar."""
        base = f"fleet/{self.depot_id}/vehicle/+"
        topics = [f"{base}/telemetry", f"{base}/event"]
        if self.owntracks:
            topics.append("owntracks/+/+")
        if self.traccar_topic:
            topics.append(self.traccar_topic)
        return topics


def paho_client(config: MqttConfig) -> mqtt.Client:
    """The paho client with the workstation's settings (protocol, session, TLS, window).

    The benchmark's bare subscriber is built here too, so the two differ only in what
    they do with a message.
    """
    v5 = config.protocol == "5"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    user, password = config.credentials
    if user:
        client.username_pw_set(user, password or None)
    if config.tls:
        client.tls_set(ca_certs=config.ca_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(1, 4)
    client.max_inflight_messages_set(1000)
    return client


class TelemetryClient:
    """Subscribes to the depot's telemetry and feeds an :class:`Ingest`."""

    def __init__(
        self,
        config: MqttConfig,
        ingest: Ingest,
        *,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self.ingest = ingest
        self.on_state = on_state
        self.state = "disconnected"
        self.client = paho_client(config)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        # Straight to the ingest's buffer: one Python call per message.
        self.client.on_message = ingest.on_paho_message

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        cfg = self.config
        kwargs = {}
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = cfg.session_expiry_s
            kwargs = {"clean_start": False, "properties": props}
        self._set_state("connecting", f"{cfg.host}:{cfg.port}")
        self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, **kwargs)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session) and stop the network thread."""
        self.ingest.close()
        self.client.disconnect()
        self.client.loop_stop()
        self._set_state("disconnected", "stopped")

    def _set_state(self, state: str, detail: str) -> None:
        self.state = state
        self.ingest.on_connection(state, detail)
        if self.on_state is not None:
            self.on_state(state, detail)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused by %s: %s", self.config.host, reason_code)
            self._set_state("disconnected", f"refused: {reason_code}")
            return
        qos = self.config.qos
        client.subscribe([(topic, qos) for topic in self.config.topics()])
        self._set_state(
            "connected",
            f"{self.config.host}:{self.config.port} session_present={flags.session_present}",
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._set_state("connecting", f"lost connection: {reason_code}")
