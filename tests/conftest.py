"""Shared test setup: fixtures live in tests/fixtures/, one module per kind of service."""

import os
import tempfile

# Qt runs headless in every test; QtWebEngine needs its sandbox off as root.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
# Window layouts (QSettings) and data never land in the user's real directories.
_scratch = tempfile.mkdtemp(prefix="dispatch-tests-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_scratch, "config")
os.environ.setdefault("DISPATCH_DATA_DIR", os.path.join(_scratch, "data"))

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.mqtt",
    "tests.fixtures.keyring",
    "tests.fixtures.scenarios",
    "tests.fixtures.desks",
]
