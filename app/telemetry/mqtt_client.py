"""The workstation's MQTT connection: persistent session, auto-reconnect, decode in-thread.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) with ``loop_start()``: paho's network thread
reconnects by itself (1-4 s back-off) and hands every message to
:meth:`Ingest.on_message`, which buffers it; the same thread decodes and validates every
full batch. The receive path is :class:`LeanClient` (chunked socket reads, PUBLISH
packets straight to the ingest). The session is persistent — a fixed client id per
workstation, MQTT 5 ``clean_start=False`` with a session expiry (3.1.1:
``clean_session=False``) — so QoS 1 messages sent while the workstation was away arrive
when it is back. The connection state goes to the ingest (and an optional callback):
``connecting``, ``connected``, ``disconnected`` or ``refused`` (the broker turned the
workstation away: wrong user name or password, not allowed, bad client id), with a detail
a person can act on.

The workstation subscribes to its own depot's topics only (never ``fleet/+/…``). Payloads
over the decoder's size limit are not kept in memory while they arrive: the receive path
reads them through in chunks, keeps the head (topic, packet id) and hands the ingest only
their topic and size, to be counted as ``too_large``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.secrets import get_secret, redact_url
from app.telemetry.decode import MAX_PAYLOAD_BYTES
from app.telemetry.ingest import Ingest

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600
READ_CHUNK = 65536
# What of an oversized PUBLISH is kept: its topic (at most 64 KiB), packet id, properties.
OVERSIZE_HEAD = 70_000
_PUBLISH = 0x30

# CONNACK refusals in words a dispatcher can act on (MQTT 5 reason codes; paho maps the
# 3.1.1 return codes onto them). Mosquitto answers a wrong password with "Not authorized".
_REFUSALS = {
    "Bad user name or password": "bad user name or password",
    "Not authorized": "bad user name or password",
    "Client identifier not valid": "the broker refused this workstation's client id",
    "Banned": "this workstation is banned by the broker",
    "Server unavailable": "the broker is not taking connections now",
    "Server busy": "the broker is not taking connections now",
}


def depot_topic_level(depot_id: str) -> str:
    """``depot_id`` checked as one topic level: not empty, no wildcard, no separator."""
    if not depot_id or any(c in depot_id for c in "+#/\0"):
        raise ValueError(
            f"depot id {depot_id!r} cannot name the depot's MQTT topics: it must be the "
            "depot's own id (no '+', '#' or '/'); the workstation never listens to every depot"
        )
    return depot_id


@dataclass(frozen=True)
class MqttConfig:
    """Everything needed to connect; built from Settings (an immutable snapshot)."""

    url: str = field(repr=False)  # may carry a password: ``shown_url`` is for people
    client_id: str
    depot_id: str = ""  # required to subscribe (``topics()``); a publisher needs none
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    protocol: str = "5"  # "5" or "3.1.1" (amqtt)
    traccar_topic: str = "traccar/+"
    owntracks: bool = True
    qos: int = 1
    keepalive_s: int = 30
    session_expiry_s: int = SESSION_EXPIRY_S
    #: False: no session kept on the broker while away (a desk following another desk's
    #: demo broker: that broker would queue the whole fleet's fixes for it otherwise).
    keep_session: bool = True

    def __post_init__(self) -> None:
        shown = self.shown_url
        try:
            parsed = urlparse(self.url)
            parsed.port  # noqa: B018 (a bad port raises here)
        except ValueError as exc:
            raise ValueError(f"MQTT URL {shown!r}: {exc}") from None
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(
                f"MQTT URL {shown!r}: scheme must be mqtt:// or mqtts://, got {parsed.scheme!r}"
            )
        if not parsed.hostname:
            raise ValueError(f"MQTT URL {shown!r}: no host name")
        if self.depot_id:
            depot_topic_level(self.depot_id)
        if self.protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol {self.protocol!r}: expected '5' or '3.1.1'")
        if not self.client_id:
            raise ValueError("MQTT client id must not be empty (it keeps the session)")

    @classmethod
    def from_settings(
        cls, settings, url: str | None = None, *, depot_id: str = "", **overrides
    ) -> MqttConfig:
        """From Settings; ``url`` overrides ``settings.mqtt_url`` (the embedded broker's),
        ``depot_id`` the depot the workstation runs (``settings.depot_id`` when empty).
        The password: ``mqtt_password`` if set, else the system keyring's
        (``python -m app.secrets set mqtt_password``), asked only when there is a user name
        to send it with (the keyring's package is some 10 MB a window need not hold)."""
        values = dict(
            url=url or settings.mqtt_url,
            client_id=f"dispatch-desk-{settings.workstation_id}",
            depot_id=depot_id or settings.depot_id,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            ca_file=settings.mqtt_ca_file,
        )
        values.update(overrides)  # e.g. the client id of a desk on another desk's broker
        if not values["password"] and (values["username"] or urlparse(values["url"]).username):
            values["password"] = get_secret("mqtt_password") or ""
        return cls(**values)

    @property
    def shown_url(self) -> str:
        """The URL fit for a log or a status bar: any password in it replaced by ``***``."""
        return redact_url(self.url)

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
        """User and password: from the URL when it carries them (a user without a
        password in the URL takes the configured one), else the fields."""
        parsed = urlparse(self.url)
        if parsed.username:
            return unquote(parsed.username), unquote(parsed.password or "") or self.password
        return self.username, self.password

    def topics(self) -> list[str]:
        """The subscriptions: this depot's native telemetry and events, OwnTracks and
        Traccar (whose devices count only once mapped to one of the depot's vehicles)."""
        base = f"fleet/{depot_topic_level(self.depot_id)}/vehicle/+"
        topics = [f"{base}/telemetry", f"{base}/event"]
        if self.owntracks:
            topics.append("owntracks/+/+")
        if self.traccar_topic:
            topics.append(self.traccar_topic)
        return topics


class LeanClient(mqtt.Client):
    """paho's client with a receive path for a firehose of small messages.

    Stock paho reads every packet with three ``recv`` calls (type byte, length bytes,
    body) and wraps each PUBLISH in an ``MQTTMessage`` with its own lock before the
    callback's topic matching. This subclass reads the socket in 64 KiB chunks and hands
    QoS 0 and 1 PUBLISH packets straight to ``sink(topic_bytes, payload)``; QoS 1 is
    acknowledged after the sink returned, exactly as paho does. QoS 2, and every other
    packet (CONNACK, SUBACK, PINGRESP, ...), go through paho unchanged. It relies on
    paho's ``_sock_recv``/``_handle_publish`` hooks of the pinned paho-mqtt release; the
    telemetry tests run it against a real broker.
    """

    def __init__(
        self,
        *args,
        sink: Callable[[bytes, bytes], None] | None = None,
        oversize: Callable[[bytes, int], None] | None = None,
        max_payload: int = MAX_PAYLOAD_BYTES,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.sink = sink
        self.oversize = oversize  # (topic, packet size) of a PUBLISH read through unkept
        self.max_packet = max_payload + OVERSIZE_HEAD
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: nothing carried over
            self._rbuf, self._rpos, self._rsock = b"", 0, self._sock
        pos, buf = self._rpos, self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(READ_CHUNK)  # raises as paho expects; b"" = closed
            if not buf:
                return buf
            self._rbuf, pos = buf, 0
        packet = self._in_packet
        if (
            packet["have_remaining"]
            and packet["remaining_length"] > self.max_packet
            and packet["command"] & 0xF0 == _PUBLISH
            and self.oversize is not None
            and len(packet["packet"]) >= OVERSIZE_HEAD
        ):
            # An oversized PUBLISH past its head: read it through without keeping it (paho
            # appends what this returns, so all but one byte of each chunk is skipped here).
            take = min(bufsize, len(buf) - pos)
            if take > 1:
                packet["to_process"] -= take - 1
                pos += take - 1
            self._rpos = pos + 1
            return buf[pos : pos + 1]
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # Packets already read from the socket are not announced by select(): handle them
        # all before paho waits on the socket again.
        rc = super().loop_read(max_packets)
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and self._rpos < len(self._rbuf)
            and self._sock is not None
        ):
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        sink = self.sink
        command = self._in_packet["command"]
        qos = (command & 0x06) >> 1
        size = self._in_packet["remaining_length"]
        oversized = size > self.max_packet and self.oversize is not None
        if (sink is None or qos == 2) and not oversized:
            return super()._handle_publish()
        result = _packet.decode_publish(command, self._in_packet["packet"], self._protocol)
        if oversized and self.oversize is not None:
            self.oversize(result.topic, size)
        elif sink is not None:
            sink(result.topic, result.payload)  # type: ignore[arg-type]  # bytes here
        if qos == 1 and not self._manual_ack:
            return self._send_puback(result.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def paho_client(
    config: MqttConfig,
    sink: Callable[[bytes, bytes], None] | None = None,
    oversize: Callable[[bytes, int], None] | None = None,
) -> mqtt.Client:
    """The paho client with the workstation's settings (protocol, session, TLS, window).

    With a ``sink`` it is a :class:`LeanClient` that hands it every QoS 0/1 message's raw
    topic and payload. The benchmark's bare subscribers are built here too (stock paho,
    and the same receive path as the ingest), so they differ only in what they do with a
    message.
    """
    v5 = config.protocol == "5"
    protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    clean_session = None if v5 else not config.keep_session
    client: mqtt.Client
    if sink is None:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=protocol,
            clean_session=clean_session,
        )
    else:
        client = LeanClient(
            mqtt.CallbackAPIVersion.VERSION2,
            sink=sink,
            oversize=oversize,
            client_id=config.client_id,
            protocol=protocol,
            clean_session=clean_session,
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
        # Straight to the ingest's buffer: one Python call per message (QoS 2 through
        # paho's on_message).
        self.client = paho_client(config, sink=ingest.on_message, oversize=ingest.on_oversize)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = ingest.on_paho_message
        self._refused = ""  # why the broker turned us away, until it takes us

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        cfg = self.config
        self._set_state("connecting", f"{cfg.host}:{cfg.port}")
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = cfg.session_expiry_s if cfg.keep_session else 0
            self.client.connect_async(
                cfg.host,
                cfg.port,
                keepalive=cfg.keepalive_s,
                clean_start=not cfg.keep_session,
                properties=props,
            )
        else:
            self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
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
            why = _REFUSALS.get(str(reason_code), str(reason_code))
            if why == _REFUSALS["Not authorized"] and not self.config.credentials[0]:
                why = "the broker wants a user name and password"
            detail = f"refused: {why}"
            if detail != self._refused:  # once, not at every reconnection attempt
                log.warning("MQTT broker %s:%d %s", self.config.host, self.config.port, detail)
            self._refused = detail
            self._set_state("refused", detail)
            return
        self._refused = ""
        qos = self.config.qos
        client.subscribe([(topic, qos) for topic in self.config.topics()])
        self._set_state(
            "connected",
            f"{self.config.host}:{self.config.port} session_present={flags.session_present}",
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._refused:  # the broker closes after a refusal: the refusal is the news
            return
        self._set_state("connecting", f"lost connection: {reason_code}")

    def _on_connect_fail(self, client, userdata) -> None:
        # paho retries by itself; a TLS failure (unknown CA, wrong host name) says why
        # only in the exception it logged, so name the likely causes.
        if self.config.tls and not self._refused:
            self._set_state(
                "connecting",
                f"cannot reach {self.config.host}:{self.config.port} over TLS "
                "(broker down, or its certificate not trusted: see DISPATCH_MQTT_CA_FILE)",
            )
