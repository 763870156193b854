"""``python -m bench.kpis --keep DIR``: the printed ``main.py kpis`` command, run on a copy of
the kept store, gives the KPIs of the bench's first pass."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile

from bench.kpis import main as bench
from main import main


def test_the_kept_day_gives_the_first_pass_by_hand(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "desk"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert bench(["--vehicles", "6", "--keep", str(tmp_path / "kept"), "--json"]) == 0
    assert not list(scratch.iterdir())  # its working store and report are gone, the kept day not
    figures = json.loads(capsys.readouterr().out)
    kept = figures["kept_store"]
    command = shlex.split(figures["first_pass_command"])
    assert command[:3] == ["python", "main.py", "kpis"]
    shutil.copy(kept, kept.replace("day.", "first."))
    assert main(command[2:]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["routed_stops"] == figures["stops"] == 120
    assert doc["final"] is False
    assert round(doc["kpis"]["on_time_delivery_pct"], 1) == figures["on_time_delivery_pct"]
