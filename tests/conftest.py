"""Shared test setup: fixtures live in tests/fixtures/, one module per kind of service."""

import os

# Qt runs headless in every test; QtWebEngine needs its sandbox off as root.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.mqtt",
    "tests.fixtures.scenarios",
]
