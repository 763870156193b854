"""Passwords come from the environment or the system keyring, never from plain text."""

from __future__ import annotations

import logging

import pytest

from app import secrets
from tests.fixtures.keyring import DictKeyring


def test_password_round_trips_through_the_keyring(ring: DictKeyring) -> None:
    """A stored password is read back and lands in the database URL, not in settings."""
    secrets.set_secret("database_password", "s3cret")
    assert ring.items == {("dispatch-desk", "database_password"): "s3cret"}
    url = secrets.database_url_with_password("postgresql+psycopg://disp@db:5433/day", env={})
    assert url == "postgresql+psycopg://disp:s3cret@db:5433/day"
    secrets.delete_secret("database_password")
    assert secrets.get_secret("database_password", env={}) is None


def test_environment_variable_wins(ring: DictKeyring) -> None:
    """DISPATCH_MQTT_PASSWORD still works (tests, containers) and wins over the keyring."""
    secrets.set_secret("mqtt_password", "from-ring")
    env = {"DISPATCH_MQTT_PASSWORD": "from-env"}
    assert secrets.get_secret("mqtt_password", env) == "from-env"
    assert secrets.get_secret("mqtt_password", {}) == "from-ring"


def test_no_keyring_gives_a_clear_message(no_ring: None) -> None:
    """Without a system keyring storing refuses, says why and names the variable to use."""
    with pytest.raises(secrets.SecretUnavailable) as caught:
        secrets.set_secret("database_password", "x")
    message = str(caught.value)
    assert "no system keyring" in message and "DISPATCH_DATABASE_PASSWORD" in message
    assert secrets.get_secret("database_password", env={}) is None


def test_plain_text_password_in_url_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """A password written into the URL still works but the log says it is plain text."""
    with caplog.at_level(logging.WARNING, logger="app.secrets"):
        url = secrets.database_url_with_password("postgresql+psycopg://u:pw@h/db", env={})
    assert url == "postgresql+psycopg://u:pw@h/db"
    assert "plain text" in caplog.text


def test_unknown_secret_name_is_refused() -> None:
    """A misspelt secret name is refused with the list of known ones."""
    with pytest.raises(ValueError, match="database_password"):
        secrets.get_secret("db_pass", env={})


def test_a_broker_without_a_user_name_never_asks_the_keyring(monkeypatch) -> None:
    """No user name, no password to send: the keyring is not asked (nor imported); with a
    user name, in the settings or the URL, its password is."""
    from app.settings import Settings
    from app.telemetry import mqtt_client

    asked: list[str] = []
    monkeypatch.setattr(mqtt_client, "get_secret", lambda name: asked.append(name) or "ring")
    config = mqtt_client.MqttConfig.from_settings(Settings(), "mqtt://127.0.0.1:1883")
    assert config.credentials == ("", "") and asked == []
    config = mqtt_client.MqttConfig.from_settings(Settings(), "mqtt://desk1@127.0.0.1:1883")
    assert config.credentials == ("desk1", "ring") and asked == ["mqtt_password"]
    named = Settings(mqtt_username="desk2")
    config = mqtt_client.MqttConfig.from_settings(named, "mqtt://127.0.0.1:1883")
    assert config.credentials == ("desk2", "ring")
