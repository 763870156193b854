"""``python main.py demo --roads NAME``: a demo day in another city, with its own depot,
time zone and street names, that imports and plans on that city's streets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.importer.persist import import_paths
from app.store import open_store, repository
from app.travel.choose import choose
from engine.travel import StreetNetworkTravelModel
from main import main
from tests.app.test_roads_import import LAT0, LON0, STEP, _write_osm


@pytest.fixture
def liege(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> str:
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "liege.osm.pbf"
    _write_osm(source)
    assert main(["roads", "import", str(source), "--name", "liege"]) == 0
    capsys.readouterr()
    return "liege"


def test_a_demo_day_in_liege(liege, tmp_path, capsys):
    out = tmp_path / "day"
    depot_at = f"{LAT0 + STEP},{LON0 + 2 * STEP}"
    code = main(["demo", "--roads", "liege", "--depot", depot_at, "--timezone",
                 "Europe/Brussels", "--day", "2026-12-07", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "at Liege Depot: 25 vehicles, 25 drivers, 400 orders" in printed
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(out.glob("*.csv")))
    for city in ("Salt Lake", "SLC", "UT", "America/Denver", "South Temple"):
        assert city not in text
    (depot,) = csv.DictReader((out / "depots.csv").open(encoding="utf-8"))
    assert (depot["id"], depot["timezone"], depot["travel"]) == (
        "LIEGE-1", "Europe/Brussels", "roads:liege")  # fmt: skip
    # The depot is at the street corner nearest to where it was asked for.
    assert (float(depot["lat"]), float(depot["lon"])) == pytest.approx(
        (LAT0 + STEP, LON0 + 2 * STEP), abs=1e-6
    )
    orders = list(csv.DictReader((out / "orders.csv").open(encoding="utf-8")))
    assert "+01:00" in orders[0]["window_start"]  # Brussels winter time
    streets = {o["address"].split(" ", 1)[1] for o in orders}
    assert {"Rue Saint-Gilles", "Boulevard de la Sauvenière", "tertiary road"} <= streets
    # It imports (every order on the streets) and plans on Liège's streets.
    url = f"sqlite:///{tmp_path / 'liege.sqlite3'}"
    report = import_paths([out], url, actor="test")
    assert report.rejected == 0 and report.exit_code == 0, report.render()
    store = open_store(url)
    try:
        with store.session() as session:
            stored = repository.list_depots(session)
    finally:
        store.close()
    choice = choose(stored[0])
    assert isinstance(choice.model, StreetNetworkTravelModel) and not choice.warning
    assert choice.label == "streets of liege"


def test_bad_demo_arguments_are_refused(liege, tmp_path, capsys):
    out = str(tmp_path / "day")
    assert main(["demo", "--roads", "namur", "--out", out]) == 2
    assert "no street network named 'namur'" in capsys.readouterr().err
    assert main(["demo", "--roads", "liege", "--depot", "40.7,-111.9", "--out", out]) == 2
    assert "--depot 40.7,-111.9 lies outside network 'liege'" in capsys.readouterr().err
    assert main(["demo", "--roads", "liege", "--timezone", "Mars/Olympus", "--out", out]) == 2
    assert "'Mars/Olympus' is not an IANA time zone name" in capsys.readouterr().err
    assert main(["demo", "--depot", "40.7,-111.9", "--out", out]) == 2
    assert "go with --roads" in capsys.readouterr().err
