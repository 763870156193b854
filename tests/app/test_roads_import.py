"""``python main.py roads``: street lines from OSM, GeoJSON, GeoPackage and GeoParquet
into a named network the planner reads; the report; list and remove; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.roads.library import load_network, open_network
from engine import roads
from engine.model import Location
from engine.roads import StreetNetwork
from engine.travel import StreetNetworkTravelModel
from main import main

# A small grid in Liège: 4 x 4 junctions 0.002° apart (about 140 m by 220 m).
LAT0, LON0, STEP = 50.630, 5.570, 0.002
RUES = ("", "Saint-Gilles", "Hors-Château", "Pierreuse")


def _pt(i: int, j: int) -> tuple[float, float]:
    return (LON0 + j * STEP, LAT0 + i * STEP)  # lon, lat


def _grid_streets() -> list[tuple[list[tuple[float, float]], dict]]:
    """Four east-west streets and four north-south ones, each one line over the grid
    (so lines cross at shared vertices and must be cut there), a footway and an island."""
    streets = []
    for i in range(4):
        tags = {"highway": "residential", "maxspeed": "20 mph", "name": f"Rue {RUES[i]}"}
        if i == 0:
            tags = {"highway": "primary", "oneway": "yes", "name": "Boulevard de la Sauvenière"}
        streets.append(([_pt(i, j) for j in range(4)], tags))
    for j in range(4):
        streets.append(([_pt(i, j) for i in range(4)], {"highway": "tertiary"}))
    streets.append(([_pt(0, 0), _pt(3, 3)], {"highway": "footway"}))
    streets.append(([_pt(10, 10), _pt(10, 11)], {"highway": "residential"}))  # an island
    return streets


def _write_osm(path: Path) -> None:
    import osmium
    from osmium.osm.mutable import Node, Way

    ids: dict[tuple[float, float], int] = {}
    writer = osmium.SimpleWriter(str(path))
    for line, _ in _grid_streets():
        for p in line:
            if p not in ids:
                ids[p] = len(ids) + 1
                writer.add_node(Node(id=ids[p], location=p))
    for k, (line, tags) in enumerate(_grid_streets(), start=100):
        writer.add_way(Way(id=k, nodes=[ids[p] for p in line], tags=tags))
    writer.close()


def _features() -> list[dict]:
    return [
        {"type": "Feature", "properties": tags,
         "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]}}
        for line, tags in _grid_streets()
    ]  # fmt: skip


def _write_geojson(path: Path) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": _features()}))


def _write_gpkg(path: Path) -> None:
    import shapely
    from pyogrio.raw import write as ogr_write

    streets = _grid_streets()
    geoms = [shapely.to_wkb(shapely.linestrings(line)) for line, _ in streets]
    fields = {
        "highway": np.array([t["highway"] for _, t in streets], dtype=object),
        "oneway": np.array([t.get("oneway", "") for _, t in streets], dtype=object),
        "maxspeed": np.array([t.get("maxspeed", "") for _, t in streets], dtype=object),
    }
    ogr_write(
        path, np.array(geoms, dtype=object), list(fields.values()), fields=list(fields),
        geometry_type="LineString", crs="EPSG:4326", driver="GPKG", layer="streets",
    )  # fmt: skip


def _write_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    from engine.roads import TransverseMercator

    tm = TransverseMercator.utm(31)  # stored in UTM 31N, as EPSG:32631
    streets = _grid_streets()
    geoms = []
    for line, _ in streets:
        lon, lat = np.array(line).T
        x, y = tm.forward(lat, lon)
        geoms.append(shapely.to_wkb(shapely.linestrings(np.column_stack([x, y]))))
    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "crs": {
               "type": "ProjectedCRS", "name": "WGS 84 / UTM zone 31N",
               "id": {"authority": "EPSG", "code": 32631}}}}}  # fmt: skip
    table = pa.table(
        {"highway": [t["highway"] for _, t in streets],
         "oneway": [t.get("oneway") for _, t in streets],
         "maxspeed": [t.get("maxspeed") for _, t in streets], "geometry": geoms}
    ).replace_schema_metadata({"geo": json.dumps(geo)})  # fmt: skip
    pq.write_table(table, path)


WRITERS = {
    "grid.osm.pbf": _write_osm,
    "grid.osm": _write_osm,
    "grid.geojson": _write_geojson,
    "grid.gpkg": _write_gpkg,
    "grid.parquet": _write_parquet,
}


@pytest.mark.parametrize("filename", list(WRITERS))
def test_every_format_imports_the_same_network_with_a_report(tmp_path, capsys, filename):
    source = tmp_path / filename
    WRITERS[filename](source)
    data = tmp_path / "data"
    code = main(["roads", "import", str(source), "--name", "liege", "--json",
                 "--data-dir", str(data)])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    # 16 junctions, 24 street pieces between them; the island is dropped, the footway too.
    assert (report["nodes"], report["edges"], report["components"]) == (16, 24, 2)
    assert report["components_dropped"] == 1
    assert 4.0 < report["km"] < 4.5
    assert report["oneway_edges"] == 3  # the primary street's three pieces
    assert report["oneway_dead_end_nodes"] == 0  # the boulevard runs into two-way streets
    assert any("footway" in why for why in report["dropped"])
    assert any("island" in why for why in report["dropped"])
    west, south, east, north = report["bounds"]
    assert (round(west, 4), round(south, 4)) == (LON0, LAT0)
    net = StreetNetwork.load(data / "roads" / "liege.parquet")
    assert net.node_count == 16
    # Posted speeds reach the planner (20 mph residential streets); the others keep their
    # road class's speed (primary 60, tertiary 45 km/h at free flow).
    speeds = {round(v, 1) for v in net.edge_speed_kmh(None).tolist()}
    assert speeds == {32.2, 45.0, 60.0}
    # The network plans: corner to corner is 3 blocks each way (about 667 + 424 m).
    model = StreetNetworkTravelModel(net)
    m = model.matrices([Location(LAT0, LON0), Location(LAT0 + 3 * STEP, LON0 + 3 * STEP)])
    assert 1080 < m.distance_m[0, 1] < 1100


def _no_parse(monkeypatch) -> None:
    def no_parse(*_):
        raise AssertionError("the parquet was parsed again")

    monkeypatch.setattr(StreetNetwork, "_parse", classmethod(no_parse))


def test_list_and_remove(tmp_path, capsys, monkeypatch):
    source = tmp_path / "grid.geojson"
    _write_geojson(source)
    data = str(tmp_path / "data")
    assert main(["roads", "import", str(source), "--name", "liege", "--data-dir", data]) == 0
    text = capsys.readouterr().out
    assert "16 nodes, 24 edges" in text and "coordinate system: WGS84" in text
    # The network's arrays are saved with it, in the data folder's arrays folder (a start
    # reads them, not the parquet).
    folder = tmp_path / "data" / "roads"
    assert {p.name for p in folder.iterdir()} == {"liege.parquet", "liege.json", "arrays"}
    (saved,) = (folder / "arrays").iterdir()
    assert saved.name.startswith("liege-") and saved.name.endswith(".arrays.npz")
    _no_parse(monkeypatch)
    monkeypatch.setattr(roads, "_CACHE", {})
    assert load_network(tmp_path / "data", "liege").node_count == 16
    # A second import under the same name is refused unless asked to replace it.
    assert main(["roads", "import", str(source), "--name", "liege", "--data-dir", data]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main(["roads", "list", "--json", "--data-dir", data]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["liege"]["nodes"] == 16 and rows["salt_lake_city"]["shipped"]
    assert main(["roads", "remove", "liege", "--data-dir", data]) == 0
    assert [p.name for p in folder.iterdir()] == ["arrays"]
    assert list((folder / "arrays").iterdir()) == []
    capsys.readouterr()
    assert main(["roads", "remove", "liege", "--data-dir", data]) == 2
    assert "no street network named 'liege'" in capsys.readouterr().err
    assert main(["roads", "remove", "salt_lake_city", "--data-dir", data]) == 2
    assert "ships with the application" in capsys.readouterr().err


def test_an_installed_street_file_keeps_its_arrays_in_the_data_folder(tmp_path, monkeypatch):
    """A street file in a folder the user cannot write (an installed application's) gets
    its arrays saved in the user's data folder: the next start reads them, not the
    parquet, and nothing is written next to the street file."""
    source = tmp_path / "grid.geojson"
    _write_geojson(source)
    data = tmp_path / "data"
    assert main(["roads", "import", str(source), "--name", "liege", "--data-dir", str(data)]) == 0
    installed = tmp_path / "install" / "resources" / "roads"
    installed.mkdir(parents=True)
    street_file = installed / "city.parquet"
    street_file.write_bytes((data / "roads" / "liege.parquet").read_bytes())
    installed.chmod(0o555)
    try:
        monkeypatch.setattr(roads, "_CACHE", {})
        first = open_network(street_file, data)
        assert [p.name for p in installed.iterdir()] == ["city.parquet"]
        _no_parse(monkeypatch)
        monkeypatch.setattr(roads, "_CACHE", {})
        assert open_network(street_file, data).edge_count == first.edge_count == 24
    finally:
        installed.chmod(0o755)


def test_a_street_file_is_read_the_first_time_in_a_child_process(tmp_path, monkeypatch, caplog):
    """The parquet reader stays out of the process that opens a network (a window that
    runs all day): a child reads the street file and saves its arrays, which this process
    reads back. A child that cannot do it is named in the log, and the file is read here."""
    source = tmp_path / "grid.geojson"
    _write_geojson(source)
    data = tmp_path / "data"
    assert main(["roads", "import", str(source), "--name", "liege", "--data-dir", str(data)]) == 0
    street_file = data / "roads" / "liege.parquet"
    monkeypatch.setattr(roads, "_CACHE", {})
    for saved in (data / "roads" / "arrays").iterdir():
        saved.unlink()
    assert not roads.arrays_saved(street_file, data / "roads" / "arrays")
    _no_parse(monkeypatch)  # here: the child parses, in its own interpreter
    net = open_network(street_file, data)
    assert net.edge_count == 24
    assert roads.arrays_saved(street_file, data / "roads" / "arrays")
    monkeypatch.undo()

    monkeypatch.setattr(roads, "_CACHE", {})
    for saved in (data / "roads" / "arrays").iterdir():
        saved.unlink()
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python-here"))
    with caplog.at_level("INFO", logger="app.roads.library"):
        assert open_network(street_file, data).edge_count == 24
    assert "liege.parquet: not read apart" in caplog.text
    assert roads.arrays_saved(street_file, data / "roads" / "arrays")


def _import_error(tmp_path, capsys, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content)
    code = main(["roads", "import", str(path), "--name", "bad", "--data-dir",
                 str(tmp_path / "data")])  # fmt: skip
    assert code == 2
    assert not (tmp_path / "data" / "roads" / "bad.parquet").exists()
    return capsys.readouterr().err


def test_bad_input_names_file_row_and_why(tmp_path, capsys):
    err = _import_error(tmp_path, capsys, "broken.geojson", '{"type": "FeatureCollection",')
    assert "broken.geojson: not a readable GeoJSON file" in err
    features = _features()
    features[2]["geometry"]["coordinates"][1] = [512000.0, 5610000.0]  # metres, not degrees
    err = _import_error(tmp_path, capsys, "metres.geojson",
                        json.dumps({"type": "FeatureCollection", "features": features}))  # fmt: skip
    assert "metres.geojson, feature 3: coordinate [512000.0, 5610000.0]" in err
    assert "wrong coordinate system" in err
    only_paths = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"highway": "footway"},
         "geometry": {"type": "LineString", "coordinates": [[5.5, 50.6], [5.6, 50.6]]}}]}  # fmt: skip
    err = _import_error(tmp_path, capsys, "paths.geojson", json.dumps(only_paths))
    assert "no drivable street lines" in err
    other_crs = {"type": "FeatureCollection", "crs": {"properties": {"name": "EPSG:31370"}},
                 "features": _features()}  # fmt: skip
    err = _import_error(tmp_path, capsys, "lambert.geojson", json.dumps(other_crs))
    assert "coordinate system 'EPSG:31370' is not supported" in err
    err = _import_error(tmp_path, capsys, "streets.csv", "a,b\n1,2\n")
    assert "streets.csv: unknown kind of file" in err
    err = _import_error(tmp_path, capsys, "junk.osm.pbf", "not a pbf")
    assert "junk.osm.pbf: not a readable OpenStreetMap file" in err


def test_gis_exports_of_openstreetmap_read_their_tags(tmp_path, capsys):
    """GDAL's OSM 'lines' layer (tags in other_tags, railways beside roads) and a
    Geofabrik-style shapefile (fclass, oneway F/T/B, maxspeed 0 = unknown)."""
    import shapely
    from pyogrio.raw import write as ogr_write

    lines = [
        ([_pt(0, 0), _pt(0, 1)], "primary", '"oneway"=>"yes","maxspeed"=>"50"'),
        ([_pt(0, 1), _pt(1, 1)], "residential", '"maxspeed"=>"30","access"=>"private"'),
        ([_pt(0, 1), _pt(0, 2)], None, '"railway"=>"rail"'),
        ([_pt(0, 2), _pt(0, 1)], "residential", None),
    ]
    geoms = np.array([shapely.to_wkb(shapely.linestrings(p)) for p, _, _ in lines], dtype=object)
    gpkg = tmp_path / "osm.gpkg"
    ogr_write(gpkg, geoms, [np.array([h for _, h, _ in lines], dtype=object),
                            np.array([t for _, _, t in lines], dtype=object)],
              fields=["highway", "other_tags"], geometry_type="LineString", crs="EPSG:4326",
              driver="GPKG", layer="lines")  # fmt: skip
    data = str(tmp_path / "data")
    assert main(["roads", "import", str(gpkg), "--name", "a", "--json", "--data-dir", data]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["edges"], report["oneway_edges"], report["speed_posted_edges"]) == (2, 1, 1)
    assert report["dropped"] == {
        "closed to traffic (access=private)": 1,
        "rows without a road class (railways, rivers, …: not streets)": 1,
    }
    shp = tmp_path / "roads.shp"
    ogr_write(shp, geoms[[0, 1, 3]], [np.array(["primary", "residential", "service"], dtype=object),
                                     np.array(["F", "B", "T"], dtype=object),
                                     np.array([50, 0, 0], dtype=np.int32)],
              fields=["fclass", "oneway", "maxspeed"], geometry_type="LineString",
              crs="EPSG:4326", driver="ESRI Shapefile")  # fmt: skip
    assert main(["roads", "import", str(shp), "--name", "b", "--json", "--data-dir", data]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["edges"], report["oneway_edges"], report["speed_posted_edges"]) == (3, 2, 1)
    assert report["classes"] == {"primary": 1, "residential": 1, "service": 1}


def test_the_report_counts_the_one_way_dead_ends_stops_are_snapped_away_from(tmp_path, capsys):
    """A one-way street running off the extract's edge (in, no way out) and another coming
    in from it (out, no way in): the report counts their far nodes and km, in text and
    --json; a stop there is snapped to a street a van can come and go from."""
    streets = _grid_streets()[:-2]  # the grid, without the footway and the island
    streets.append(([_pt(3, 3), _pt(4, 3)], {"highway": "residential", "oneway": "yes"}))
    streets.append(([_pt(3, 5), _pt(3, 4), _pt(3, 3)], {"highway": "service", "oneway": "yes"}))
    features = [
        {"type": "Feature", "properties": tags,
         "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]}}
        for line, tags in streets
    ]  # fmt: skip
    source = tmp_path / "edge.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    data = tmp_path / "data"
    args = ["roads", "import", str(source), "--name", "edge", "--data-dir", str(data)]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == 16 + 2  # the ends of the two streets, off the grid
    assert report["oneway_dead_end_nodes"] == 2
    assert 0.45 < report["oneway_dead_end_km"] < 0.55  # one block north, two blocks east
    assert main([*args, "--replace"]) == 0
    text = capsys.readouterr().out
    assert "one-way dead ends: 2 street nodes" in text and "snapped away" in text
    net = StreetNetwork.load(data / "roads" / "edge.parquet")
    node, _ = net.snap_drivable([LAT0 + 4 * STEP], [LON0 + 3 * STEP])
    assert (net.node_lat[node[0]], net.node_lon[node[0]]) == pytest.approx(
        (LAT0 + 3 * STEP, LON0 + 3 * STEP)
    )
