"""Each depot names its travel source: a street network, a routing server or straight lines
on purpose; a depot outside every network is a warning, an order off the streets an error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.importer.persist import import_paths
from app.store import open_store, repository
from app.travel.choose import TravelSource, choose
from app.travel.osrm import OsrmTravelModel
from engine.model import Depot, Location
from engine.travel import HaversineTravelModel, StreetNetworkTravelModel
from main import main
from tests.app.test_roads_import import LAT0, LON0, STEP, _write_geojson

DAY = date(2026, 11, 24)
VEHICLES = "id,depot_id,type,capacity_kg\nV1,{d},van,800\n"
DRIVERS = "id,name,depot_id,shift_start,shift_end\nR1,Ann,{d},07:00,17:00\n"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    return tmp_path / "data"


@pytest.fixture
def liege(data_dir: Path, tmp_path: Path, capsys) -> str:
    """A small street grid in Liège imported as the network 'liege'."""
    source = tmp_path / "grid.geojson"
    _write_geojson(source)
    assert main(["roads", "import", str(source), "--name", "liege"]) == 0
    capsys.readouterr()
    return "liege"


def test_travel_source_text_is_checked():
    assert TravelSource.parse("") == TravelSource("auto")
    assert TravelSource.parse("roads:liege").text() == "roads:liege"
    assert (
        TravelSource.parse("osrm:http://osrm.local:5000/").text() == "osrm:http://osrm.local:5000"
    )
    assert TravelSource.parse("straight").text() == "straight:1.3"
    assert TravelSource.parse("straight:1.5").text() == "straight:1.5"
    for bad, why in [("straight:0.5", "detour factor"), ("osrm:ftp://x", "expected osrm:http"),
                     ("roads:", "name is missing"), ("teleport", "expected roads:NAME")]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            TravelSource.parse(bad)


def test_each_depot_gets_the_source_it_names(liege, data_dir):
    here = Location(LAT0 + STEP, LON0 + STEP)
    named = choose(Depot("L1", "Liège", here, "Europe/Brussels", travel="roads:liege"))
    assert isinstance(named.model, StreetNetworkTravelModel) and not named.warning
    assert named.label == "streets of liege"
    auto = choose(Depot("L2", "Liège", here, "Europe/Brussels"))  # its area holds the depot
    assert auto.network_name == "liege" and not auto.warning
    server = choose(Depot("L3", "Liège", here, travel="osrm:http://127.0.0.1:5000"))
    assert isinstance(server.model, OsrmTravelModel) and server.model.url == "http://127.0.0.1:5000"
    straight = choose(Depot("L4", "Liège", here, travel="straight:1.4"))
    assert isinstance(straight.model, HaversineTravelModel) and straight.model.detour == 1.4
    assert not straight.warning  # chosen on purpose
    ghent = Location(51.05, 3.72)
    lost = choose(Depot("G1", "Ghent", ghent))
    assert isinstance(lost.model, HaversineTravelModel)
    assert "outside every street network's area" in lost.warning
    outside = choose(Depot("G2", "Ghent", ghent, travel="roads:liege"))
    assert "lies outside the area of street network 'liege'" in outside.warning
    gone = choose(Depot("L5", "Liège", here, travel="roads:namur"))
    assert "no street network named 'namur'" in gone.warning


def _folder(tmp_path: Path, depots: str, orders: str, depot_id: str) -> Path:
    folder = tmp_path / "day"
    folder.mkdir(exist_ok=True)
    (folder / "depots.csv").write_text(depots)
    (folder / "vehicles.csv").write_text(VEHICLES.format(d=depot_id))
    (folder / "drivers.csv").write_text(DRIVERS.format(d=depot_id))
    (folder / "orders.csv").write_text(orders)
    return folder


def test_import_stores_the_source_and_refuses_orders_off_the_streets(liege, data_dir, tmp_path):
    depots = ("id,name,lat,lon,timezone,travel\n"
              f"L1,Liège,{LAT0 + STEP},{LON0 + STEP},Europe/Brussels,roads:liege\n")  # fmt: skip
    orders = (
        "id,depot_id,lat,lon,demand_kg,window_start,window_end\n"
        f"O1,L1,{LAT0 + 2 * STEP},{LON0 + 2 * STEP},10,09:00,11:00\n"
        f"O2,L1,{LAT0 + 0.05},{LON0},10,09:00,11:00\n"  # 0.044° (4.9 km) north of the top street
    )
    url = f"sqlite:///{tmp_path / 'day.sqlite3'}"
    report = import_paths([_folder(tmp_path, depots, orders, "L1")], url, actor="test")
    order_file = next(f for f in report.files if f.kind == "orders")
    assert (order_file.accepted, order_file.rejected) == (1, 1)
    (issue,) = order_file.issues
    assert issue.row == 3 and issue.field == "lat,lon"
    assert "m from the nearest street of network 'liege' (more than 2,000 m)" in issue.reason
    assert 4_850 < float(issue.reason.split(" m from")[0].split()[-1].replace(",", "")) < 4_950
    store = open_store(url)
    try:
        with store.session() as session:
            day = repository.load_day(session, "L1", DAY)
    finally:
        store.close()
    assert day.depots[0].travel == "roads:liege"


def test_a_depot_outside_every_network_is_a_warning_in_the_report(data_dir, tmp_path, capsys):
    depots = "id,name,lat,lon,timezone\nG1,Ghent,51.05,3.72,Europe/Brussels\n"
    orders = (
        "id,depot_id,lat,lon,demand_kg,window_start,window_end\nO1,G1,51.06,3.73,5,09:00,11:00\n"
    )
    folder = _folder(tmp_path, depots, orders, "G1")
    code = main(["import", str(folder), "--database", f"sqlite:///{tmp_path / 'g.sqlite3'}"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "depot G1 (51.05000, 3.72000) lies outside every street network's area" in out
    bad = "id,name,lat,lon,timezone,travel\nG2,Ghent,51.05,3.72,Europe/Brussels,roads:ghent\n"
    report = import_paths([_folder(tmp_path, bad, orders.replace("G1", "G2"), "G2")],
                          f"sqlite:///{tmp_path / 'h.sqlite3'}", actor="test")  # fmt: skip
    depot_file = next(f for f in report.files if f.kind == "depots")
    assert depot_file.rejected == 1
    assert "no street network named 'ghent'" in depot_file.issues[0].reason
