"""The map with no network at all: run inside a fresh network namespace (``unshare --net``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in the namespace: opens the map with an unreachable tile source, draws the sample
# plan, moves a vehicle, and prints what the page shows as one JSON line.
SCRIPT = r"""
import json, socket, tempfile
from pathlib import Path
import widgets.map_schemes  # registers ddtile: before the QApplication
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
from app.tiles import TileCache, TileService, TileSource
from tests.widgets.test_map_data import sample_day
from widgets.map_pane import MapPane

def wait(ms):
    loop = QEventLoop(); QTimer.singleShot(ms, loop.quit); loop.exec()

def until(check, ms=15000):
    for _ in range(ms // 50):
        if check():
            return True
        wait(50)
    return False

try:
    socket.create_connection(("198.51.100.7", 80), timeout=2).close()
    online = True
except OSError:
    online = False
work = Path(tempfile.mkdtemp())
service = TileService(
    TileCache(work / "tiles.mbtiles"),
    source=TileSource("http://198.51.100.7/{z}/{x}/{y}.png", timeout_s=2),
)
pane = MapPane(service, cache_dir=work / "page")
pane.resize(800, 600)
pane.show()
until(lambda: pane.is_ready)
day = sample_day()
pane.set_plan(day.plan, day.orders, day.depot)
pane.update_vehicles({"V1": {"lat": 40.7651, "lon": -111.8802, "heading_deg": 30}})
box = []
def ask(expr):
    box.clear()
    pane.run_js(expr, box.append)
    until(lambda: bool(box), 5000)
    return json.loads(box[0]) if box else None
until(lambda: (ask("dd.stats()") or {}).get("vehicles") == 1)
until(lambda: (ask("dd.stats()") or {}).get("tilesFailed", 0) >= 4)
result = ask("dd.stats()")
result["vehicle"] = ask("dd.vehicleState('V1')")
result["online"] = online
lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]  # this namespace's
result["interfaces"] = sorted(line.split(":")[0].strip() for line in lines)
print("RESULT " + json.dumps(result), flush=True)
pane.close(); pane.deleteLater(); wait(50); service.shutdown()
"""


def _namespace_available() -> str | None:
    """None when ``unshare --net`` works here, else why not."""
    if shutil.which("unshare") is None:
        return "the unshare tool (util-linux) is not installed"
    if os.geteuid() != 0:
        return "creating a network namespace needs root (run as root or in a container)"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare --net is not permitted here: {probe.stderr.strip()}"
    return None


@pytest.mark.slow
def test_map_shows_every_layer_with_no_network(tmp_path):
    """In a namespace with no network, the map still draws depot, routes, stops and vehicles."""
    reason = _namespace_available()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QTWEBENGINE_DISABLE_SANDBOX="1",
        QTWEBENGINE_CHROMIUM_FLAGS="--disable-gpu --disable-background-networking "
        "--disable-component-update",
        TMPDIR=str(tmp_path),
    )
    run = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, f"exit {run.returncode}\n{run.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["online"] is False and result["interfaces"] == ["lo"]
    assert result["depot"] and (result["routes"], result["stops"]) == (3, 24)
    assert result["canvasFeatures"] == 27 and result["vehicleMarkers"] == 1
    assert abs(result["vehicle"]["lat"] - 40.7651) < 1e-9
    assert result["tilesFailed"] >= 4 and result["tilesLoaded"] == 0
    assert "OpenStreetMap contributors" in result["attribution"]
