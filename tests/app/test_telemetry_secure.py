"""A broker as a depot runs it: TLS with its own CA and password authentication.

Against a real Mosquitto (TLS only, a throwaway CA made in the test, users from
``mosquitto_passwd``): the workstation's client takes its password from the keyring, a
wrong one is shown as refused in words, an untrusted certificate never connects, and the
simulator publishes through the same broker. Also: no password in anything logged or
shown, and the subscriptions name this depot only.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid

import pytest

from app import secrets
from app.settings import Settings
from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.mqtt_client import MqttConfig, TelemetryClient
from tests.app.test_telemetry_mqtt import wait_for
from tests.fixtures.keyring import DictKeyring
from tests.fixtures.mqtt import SECURE_USERS, native_fix, simulator_publisher

pytestmark = pytest.mark.mqtt


def settings_for(broker, **overrides) -> Settings:
    values = dict(
        mqtt_url=broker.url,
        mqtt_username="desk1",
        mqtt_ca_file=broker.ca_file,
        depot_id="D1",
        workstation_id=f"desk-{uuid.uuid4().hex[:6]}",
    )
    values.update(overrides)
    return Settings(**values)


def start_client(config: MqttConfig):
    states: list[tuple[str, str]] = []
    ingest = Ingest(Decoder(DeviceMap(), depot_id="D1"))
    client = TelemetryClient(config, ingest, on_state=lambda s, d: states.append((s, d)))
    client.start()
    return client, ingest, states


@pytest.fixture
def no_password_in_env(monkeypatch):
    monkeypatch.delenv("DISPATCH_MQTT_PASSWORD", raising=False)


def test_the_workstation_connects_over_tls_with_the_password_from_the_keyring(
    secure_mosquitto, ring: DictKeyring, no_password_in_env
):
    """The password stored with `python -m app.secrets set mqtt_password` is the one sent
    (it was not: the client connected as ('desk1', '')); fixes arrive over TLS."""
    secrets.set_secret("mqtt_password", SECURE_USERS["desk1"])
    config = MqttConfig.from_settings(settings_for(secure_mosquitto))
    assert config.credentials == ("desk1", SECURE_USERS["desk1"])
    assert "s3cret" not in repr(config)
    client, ingest, states = start_client(config)
    pub = simulator_publisher(secure_mosquitto)
    try:
        assert wait_for(lambda: client.state == "connected"), states
        time.sleep(0.3)  # subscriptions acknowledged
        pub.publish("fleet/D1/vehicle/V1/telemetry", native_fix("V1", 1))
        assert wait_for(lambda: ingest.accepted == 1), ingest.last_rejects()
    finally:
        pub.close()
        client.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_wrong_password_is_shown_as_refused_in_words(secure_mosquitto, protocol, caplog):
    """Not "Protocol error": the state stays refused with a reason a person can act on,
    and the log says it once, not at every reconnection attempt."""
    config = MqttConfig.from_settings(
        settings_for(secure_mosquitto, mqtt_password="wrong"), protocol=protocol
    )
    with caplog.at_level(logging.WARNING, logger="app.telemetry.mqtt_client"):
        client, _, states = start_client(config)
        try:
            assert wait_for(lambda: len([s for s in states if s[0] == "refused"]) >= 2, 15)
        finally:
            client.stop()
    refused = [d for s, d in states[:-1] if s != "connecting" or "lost" in d]
    assert set(refused) == {"refused: bad user name or password"}, states
    assert caplog.text.count("bad user name or password") == 1


def test_no_password_at_all_is_refused_in_words(secure_mosquitto, no_password_in_env):
    config = MqttConfig.from_settings(settings_for(secure_mosquitto, mqtt_username=""))
    client, _, states = start_client(config)
    try:
        assert wait_for(lambda: client.state == "refused")
    finally:
        client.stop()
    assert ("refused", "refused: the broker wants a user name and password") in states


def test_a_broker_certificate_from_an_unknown_ca_is_never_trusted(secure_mosquitto):
    """Without the depot's CA (the system store does not know it) the client never
    connects, and says TLS may be why."""
    config = MqttConfig.from_settings(
        settings_for(secure_mosquitto, mqtt_password=SECURE_USERS["desk1"], mqtt_ca_file="")
    )
    client, _, states = start_client(config)
    try:
        assert wait_for(lambda: any("TLS" in d for _, d in states), 10), states
        assert client.state != "connected"
    finally:
        client.stop()


def run_simulator(broker, password: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m app.simulator` as the broker's ``sim`` user (in the URL), the password
    from DISPATCH_MQTT_PASSWORD, the CA from --ca-file."""
    env = {**os.environ, "DISPATCH_MQTT_PASSWORD": password}
    env.pop("DISPATCH_MQTT_CA_FILE", None)
    url = broker.url.replace("mqtts://", "mqtts://sim@")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.simulator",
            "--broker",
            url,
            "--ca-file",
            broker.ca_file,
            *args,
        ],  # fmt: skip
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_simulator_publishes_over_tls_with_its_password(secure_mosquitto, ring: DictKeyring):
    """The simulator against the TLS broker: the workstation hears its fleet; with a
    wrong password it says the broker refused it and exits 1."""
    from app.simulator.plan import synthetic_day

    secrets.set_secret("mqtt_password", SECURE_USERS["desk1"])
    depot = synthetic_day(3, seed=7).depots[0].id  # the synthetic fleet's depot
    config = MqttConfig.from_settings(settings_for(secure_mosquitto), depot_id=depot)
    ingest = Ingest(Decoder(DeviceMap(), depot_id=depot))
    client = TelemetryClient(config, ingest)
    client.start()
    try:
        assert wait_for(lambda: client.state == "connected")
        time.sleep(0.3)
        run = run_simulator(
            secure_mosquitto, SECURE_USERS["sim"], "--vehicles", "3", "--start", "now",
            "--duration", "3", "--speedup", "1", "--no-incidents",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert SECURE_USERS["sim"] not in run.stdout + run.stderr
        assert wait_for(lambda: ingest.accepted >= 3), ingest.last_rejects()[-3:]
    finally:
        client.stop()
    run = run_simulator(secure_mosquitto, "wrong", "--vehicles", "2", "--duration", "1")
    assert run.returncode == 1 and "refused" in run.stderr, run.stderr


def test_a_url_password_never_reaches_a_message_or_the_log(caplog):
    """A bad scheme used to be quoted whole, password included, in the log and status bar."""
    with pytest.raises(ValueError) as caught:
        MqttConfig(url="htp://desk1:hunter2@broker.example:1883", client_id="x")
    assert "hunter2" not in str(caught.value) and "desk1:***@" in str(caught.value)
    with pytest.raises(ValueError) as caught:
        MqttConfig(url="mqtt://desk1:hunter2@broker.example:port", client_id="x")
    assert "hunter2" not in str(caught.value)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        secrets.redact_logs()
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "to %s", ("mqtt://u:pw@h",), None
        )
        for f in handler.filters:
            f.filter(record)
        try:
            raise RuntimeError("cannot open postgresql://disp:hunter2@db/x")
        except RuntimeError:
            failing = logging.LogRecord("t", logging.ERROR, __file__, 1, "x", None, sys.exc_info())
        for f in handler.filters:
            f.filter(failing)
        assert record.getMessage() == "to mqtt://u:***@h"
        assert "hunter2" not in handler.format(failing)
    finally:
        logging.getLogger().removeHandler(handler)


def test_the_workstation_subscribes_to_its_own_depot_only():
    """With DISPATCH_DEPOT_ID empty the client subscribed to fleet/+/…: any depot's
    traffic moved our vehicles. Now a depot must be named, and never a wildcard."""
    settings = Settings(mqtt_url="mqtt://127.0.0.1:1999", depot_id="", workstation_id="w")
    with pytest.raises(ValueError, match="never listens to every depot"):
        MqttConfig.from_settings(settings).topics()
    for bad in ("+", "#", "a/b"):
        with pytest.raises(ValueError):
            MqttConfig.from_settings(settings, depot_id=bad)
    topics = MqttConfig.from_settings(settings, depot_id="SLC").topics()
    assert [t for t in topics if t.startswith("fleet/")] == [
        "fleet/SLC/vehicle/+/telemetry",
        "fleet/SLC/vehicle/+/event",
    ]
