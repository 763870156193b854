"""Database and broker passwords, kept in the system keyring instead of plain text.

``get_secret(name)`` looks in ``DISPATCH_<NAME>`` first (tests, CI, containers), then the
system keyring (service ``dispatch-desk``). ``set_secret`` writes to the keyring and refuses
with a clear message when the machine has none (a headless server without a Secret
Service, say) rather than falling back to a plain-text file. Store a password once with::

    python -m app.secrets set database_password
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

SERVICE = "dispatch-desk"
NAMES = ("database_password", "mqtt_password")


class SecretUnavailable(RuntimeError):
    """No usable system keyring: says what is missing and what to do instead."""


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"secret {name!r}: unknown; the secrets are {', '.join(NAMES)}")


def env_var(name: str) -> str:
    return f"DISPATCH_{name.upper()}"


def _keyring():
    """The keyring backend, or None when the package or a usable backend is missing."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return backend


def keyring_status() -> str:
    """One line for the settings dialog and ``--help``: which keyring is in use, or why none."""
    backend = _keyring()
    if backend is not None:
        return f"system keyring: {type(backend).__module__}.{type(backend).__name__}"
    try:
        import keyring  # noqa: F401
    except ImportError:
        return "no system keyring: the keyring package is not installed"
    return (
        "no system keyring: no Secret Service/KWallet (Linux), Keychain (macOS) or Credential "
        "Locker (Windows) is reachable; set the passwords through DISPATCH_* variables"
    )


def get_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret ``name`` from ``DISPATCH_<NAME>`` or the system keyring; None if unset."""
    _check_name(name)
    source: Mapping[str, str] = os.environ if env is None else env
    if source.get(env_var(name)):
        return source[env_var(name)]
    backend = _keyring()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, name)
    except Exception as exc:  # a locked or broken keyring must not stop the workstation
        log.warning("reading %s from the system keyring failed: %s", name, exc)
        return None


def set_secret(name: str, value: str) -> None:
    """Store ``value`` in the system keyring; ``SecretUnavailable`` if there is none."""
    _check_name(name)
    backend = _keyring()
    if backend is None:
        raise SecretUnavailable(
            f"cannot store {name}: {keyring_status()}. Passwords are never written to a "
            f"plain-text file; set {env_var(name)} in the workstation's environment instead."
        )
    backend.set_password(SERVICE, name, value)


def delete_secret(name: str) -> None:
    """Remove ``name`` from the system keyring (nothing if it is not there)."""
    _check_name(name)
    backend = _keyring()
    if backend is None:
        return
    try:
        backend.delete_password(SERVICE, name)
    except Exception:
        log.debug("no %s in the keyring to delete", name, exc_info=True)


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^/@:\s]*:)\S*@")


def redact_url(url: str) -> str:
    """``url`` fit for a log, an error message or the status bar: a password in it (any
    scheme, well-formed or not) replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


class RedactingFilter(logging.Filter):
    """Rewrites every record so that no URL in it carries its password (message and
    traceback alike); ``redact_logs()`` puts it on the root logger's handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_url(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            import traceback

            trace = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_url(trace)
        return True


def redact_logs() -> None:
    """No password in a logged URL, from any logger (the workstation calls this once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def database_url_with_password(url: str, env: Mapping[str, str] | None = None) -> str:
    """``url`` with the database password filled in from the environment or the keyring.

    A URL that already carries a password is returned as is, with a warning: it is in
    plain text wherever the URL is configured."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url
    if parsed.password:
        log.warning(
            "the database URL carries its password in plain text; store it with "
            "'python -m app.secrets set database_password' and remove it from the URL"
        )
        return url
    password = get_secret("database_password", env)
    if password is None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import getpass

    parser = argparse.ArgumentParser(prog="python -m app.secrets", description=__doc__)
    parser.add_argument("action", choices=("set", "delete", "status"))
    parser.add_argument("name", nargs="?", choices=NAMES)
    args = parser.parse_args(argv)
    if args.action == "status":
        print(keyring_status())
        return 0
    if args.name is None:
        parser.error(f"{args.action}: name one of {', '.join(NAMES)}")
    if args.action == "delete":
        delete_secret(args.name)
        return 0
    try:
        set_secret(args.name, getpass.getpass(f"{args.name}: "))
    except SecretUnavailable as exc:
        print(exc)
        return 2
    print(f"{args.name} stored in the system keyring")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
