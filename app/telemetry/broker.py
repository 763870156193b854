"""The embedded MQTT broker (amqtt) for a single workstation without a broker of its own.

Runs in its own thread with its own asyncio loop, bound to 127.0.0.1 on a free port
(never 1883). amqtt keeps a disconnected client's session — and queues its QoS 1
messages — only for authenticated clients, so the broker has one local user with a
random password (argon2 hash in a password file) and hands out a URL carrying it.
amqtt speaks MQTT 3.1.1 only: clients connect with ``clean_session=False``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from app.settings import APP_NAME, private_dir, private_file

log = logging.getLogger(__name__)

LOCAL_USER = "dispatch"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (never 1883)."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port != 1883:
            return port


def _secret_path(host: str, port: int, *, create: bool = False) -> Path:
    """Where this machine's system user keeps the URL of an embedded broker it runs, with
    its password (a folder of 0700; not the data folder, which a desk may have its own
    of); ``create``: make the folder."""
    import platformdirs

    folder = Path(platformdirs.user_state_dir(APP_NAME)) / "brokers"
    return (private_dir(folder) if create else folder) / f"{host}_{port}.url"


def public_url(url: str) -> str:
    """``url`` without its user and password (what a heartbeat may carry)."""
    parsed = urlparse(url)
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    return parsed._replace(netloc=netloc).geturl()


def keep_secret(url: str) -> str:
    """Keep the broker's whole URL (its password) in a file only this OS user reads (0600)
    on this machine, the only place its broker can be reached from (127.0.0.1); returns
    the URL without the password, for the other desks of this machine to find it by."""
    parsed = urlparse(url)
    path = private_file(_secret_path(parsed.hostname or "", parsed.port or 1883, create=True))
    path.write_text(url, encoding="utf-8")
    return public_url(url)


def forget_secret(url: str) -> None:
    """The broker stopped: its password file goes."""
    parsed = urlparse(url)
    _secret_path(parsed.hostname or "", parsed.port or 1883).unlink(missing_ok=True)


def with_secret(url: str) -> str | None:
    """The whole URL of the broker a heartbeat names (``url`` without a password), read
    from this OS user's broker passwords; None when it is not there (another machine or
    another OS user's broker). A URL that carries its password already is returned."""
    parsed = urlparse(url)
    if parsed.password:
        return url
    try:
        kept = _secret_path(parsed.hostname or "", parsed.port or 1883).read_text("utf-8")
    except OSError:
        return None
    return kept if public_url(kept) == public_url(url) else None


class _DeliveryTimeouts(logging.Filter):
    """amqtt reports each QoS 1 delivery its client did not acknowledge within 5 s (the
    desk was busy, e.g. planning) with a warning and a full traceback, and each answer that
    comes after it gave up ("Received PUBACK for unknown pending message") with another
    warning. Here they are counted and said in one line at most once a minute; everything
    else passes."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.count = 0
        self.late = 0  # answers that came after the broker gave up on them
        self._unsaid = 0
        self._said_at = 0.0
        self._every_s = every_s
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        text = str(error) if error is not None else record.getMessage()
        if "for unknown pending message" in text:  # the late answer of a timed-out delivery
            with self._lock:
                self.late += 1
            return False
        if "Timeout waiting for PUB" not in text:
            return True
        now = time.monotonic()
        with self._lock:
            if error is None:  # the warning of a timeout; its traceback follows
                self.count += 1
                self._unsaid += 1
            if now - self._said_at < self._every_s:
                return False
            self._said_at, unsaid, self._unsaid = now, self._unsaid, 0
        log.warning(
            "embedded MQTT broker: %d deliveries to a client that did not answer within 5 s "
            "(the desk was busy); %d since the start, %d of them answered later",
            unsaid, self.count, self.late,
        )  # fmt: skip
        return False


DELIVERY_TIMEOUTS = _DeliveryTimeouts()
for _name in ("amqtt.broker", "amqtt.mqtt.protocol.handler"):
    logging.getLogger(_name).addFilter(DELIVERY_TIMEOUTS)


class EmbeddedBroker:
    """amqtt in a background thread: ``start()``, use ``url``, ``stop()``."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        state_dir: Path | None = None,
        username: str = LOCAL_USER,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        if self.port == 1883:
            raise ValueError("port 1883 belongs to a system broker: pick another port")
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self._dir = state_dir
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None  # amqtt's Broker (untyped)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``mqtt://user:password@127.0.0.1:port`` (protocol 3.1.1)."""
        return f"mqtt://{quote(self.username)}:{quote(self.password)}@{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start serving; raises with the reason when the broker cannot start."""
        logging.getLogger("transitions").setLevel(logging.WARNING)
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        password_file = self._password_file()
        self._thread = threading.Thread(
            target=self._run, args=(password_file,), name="mqtt-broker", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded MQTT broker did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(
                f"embedded MQTT broker on {self.host}:{self.port} failed: {self._error}"
            ) from self._error
        log.info("embedded MQTT broker on %s:%d", self.host, self.port)
        return self

    def _password_file(self) -> Path:
        from pwdlib import PasswordHash
        from pwdlib.hashers.argon2 import Argon2Hasher

        if self._dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dispatch-broker-")
            self._dir = Path(self._tmp.name)
        private_dir(self._dir)
        path = private_file(self._dir / "broker-users.txt")
        hashed = PasswordHash((Argon2Hasher(),)).hash(self.password)
        path.write_text(f"{self.username}:{hashed}\n", encoding="utf-8")
        return path

    def _run(self, password_file: Path) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start(password_file))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _start(self, password_file: Path) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.FileAuthPlugin": {
                    "password_file": str(password_file)
                },
            },
        }
        self._broker = Broker(config, loop=asyncio.get_running_loop())
        await self._broker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and wait for its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or self._thread is None:
            return
        if broker is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                future.result(timeout)
            except Exception:
                log.exception("embedded broker did not shut down cleanly")
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
