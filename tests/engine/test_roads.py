"""The street network: projection, graph, speeds, snapping, sampling, drawing."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from scipy.sparse.csgraph import connected_components

from engine import roads
from engine.geo import EARTH_RADIUS_M, haversine_m
from engine.roads import (
    DEMO_CITY_NETWORK,
    NO_DELIVERY,
    StreetNetwork,
    TransverseMercator,
    period_of_hour,
)

# (lat, lon, easting, northing) in UTM zone 12N, computed with PROJ 9 (pyproj 3.7).
REFERENCE_UTM12N = [
    (40.770439, -111.891869, 424732.3602, 4513656.6903),  # Salt Lake Temple
    (40.788389, -111.977772, 417504.8464, 4515726.5274),  # SLC airport
    (37.0, -114.0, 233037.8798, 4099080.6934),  # the zone's western edge
    (45.0, -108.0, 736446.0261, 4987329.5047),  # the zone's eastern edge
    (0.0, -111.0, 500000.0, 0.0),  # central meridian at the equator
    (64.0, -112.5, 426636.9046, 7097877.3614),  # far north
]


@pytest.fixture(scope="module")
def net() -> StreetNetwork:
    """The shipped Salt Lake City network."""
    return StreetNetwork.load(DEMO_CITY_NETWORK)


def _haversine_to_all(lat, lon, lats, lons) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lats)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def _write_lonlat_streets(path, lines, highways) -> None:
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["LineString"]}},
    }
    table = pa.table(
        {"highway": highways, "geometry": shapely.to_wkb(shapely.linestrings(lines)).tolist()}
    )
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)


def test_inverse_projection_matches_reference_points():
    """UTM 12N metres turn into the same lat/lon as PROJ computes, to well under a metre."""
    utm = TransverseMercator.utm(12)
    for lat, lon, east, north in REFERENCE_UTM12N:
        got_lat, got_lon = utm.inverse(east, north)
        assert haversine_m(lat, lon, float(got_lat), float(got_lon)) < 0.01


def test_forward_projection_matches_reference_points():
    """lat/lon project to PROJ's UTM 12N metres within a centimetre."""
    utm = TransverseMercator.utm(12)
    for lat, lon, east, north in REFERENCE_UTM12N:
        x, y = utm.forward(lat, lon)
        assert abs(float(x) - east) < 0.01 and abs(float(y) - north) < 0.01


def test_network_is_connected_with_about_2078_km_of_road(net):
    """The city's streets form one graph of ~47k junctions and ~2,078 km."""
    graph = net.graph(net.edge_length_m)
    assert connected_components(graph, directed=False)[0] == 1
    assert net.node_count > 40_000 and net.edge_count > 50_000
    assert 2_060_000 < net.total_length_m < 2_100_000


def test_bounds_are_salt_lake_city(net):
    """The network's box is the documented one around Salt Lake City."""
    b = net.bounds
    assert b.south == pytest.approx(40.589, abs=0.002)
    assert b.north == pytest.approx(40.812, abs=0.002)
    assert b.west == pytest.approx(-112.035, abs=0.002)
    assert b.east == pytest.approx(-111.783, abs=0.002)


def test_snap_returns_the_nearest_node(net):
    """A point snaps to the closest junction, with the true distance to it."""
    rng = np.random.default_rng(5)
    lat = rng.uniform(40.65, 40.78, 50)
    lon = rng.uniform(-111.98, -111.83, 50)
    nodes, dist = net.snap(lat, lon)
    for i in range(50):
        brute = _haversine_to_all(lat[i], lon[i], net.node_lat, net.node_lon)
        assert dist[i] == pytest.approx(brute.min(), rel=0.005, abs=0.05)
        assert brute[nodes[i]] == pytest.approx(brute.min(), rel=0.005, abs=0.05)
    own, d0 = net.snap(net.node_lat[123], net.node_lon[123])
    assert own[0] == 123 and d0[0] < 0.01


def test_random_street_points_lie_on_streets_off_motorways(net):
    """Sampled delivery points sit on a street, never on a motorway or a ramp."""
    pts = net.random_street_points(np.random.default_rng(1), 300)
    assert (net.distance_to_street_m(pts.lat, pts.lon) < 0.01).all()
    assert not any(net.edge_highway(e) in NO_DELIVERY for e in pts.edge)


def test_random_street_points_repeat_for_a_seed(net):
    """The same seed gives the same points; another seed gives others."""
    a = net.random_street_points(np.random.default_rng(9), 20)
    b = net.random_street_points(np.random.default_rng(9), 20)
    c = net.random_street_points(np.random.default_rng(10), 20)
    assert np.array_equal(a.lat, b.lat) and np.array_equal(a.lon, b.lon)
    assert not np.array_equal(a.lat, c.lat)


def test_rush_hour_slows_main_roads_more_than_side_streets(net):
    """At 17:00 a primary road loses more speed than a residential street; at night none."""
    free, rush, night = net.edge_speed_kmh(None), net.edge_speed_kmh(17), net.edge_speed_kmh(2)
    primary = net.classes.index("primary")
    residential = net.classes.index("residential")
    p = np.flatnonzero(net.edge_class == primary)[0]
    r = np.flatnonzero(net.edge_class == residential)[0]
    assert free[p] == 60 and free[r] == 30
    assert rush[p] / free[p] < rush[r] / free[r] < 1.0
    assert np.array_equal(night, free)
    assert period_of_hour(8)[0] == "am_peak" and period_of_hour(None)[0] == "free_flow"


def test_edges_latlon_cover_every_edge(net):
    """The renderer gets every edge as a lat/lon polyline with its road class."""
    edges = net.edges_latlon()
    assert len(edges) == net.edge_count
    highway, line = edges[0]
    assert highway in net.classes and line.shape[1] == 2 and len(line) >= 2
    flat = net.edge_polylines
    assert len(flat.offsets) == net.edge_count + 1 and len(flat.lat) == flat.offsets[-1]
    b = net.bounds
    assert b.south - 0.01 < flat.lat.min() and flat.lon.max() < b.east + 0.01


def test_second_load_comes_from_the_cache(net):
    """Loading the same file again is immediate and gives the same network."""
    started = time.perf_counter()
    again = StreetNetwork.load(DEMO_CITY_NETWORK)
    assert again is net
    assert time.perf_counter() - started < 0.05


def test_lonlat_file_builds_a_graph_with_ground_lengths(tmp_path):
    """A GeoParquet in lon/lat makes a graph whose edge lengths are ground metres."""
    path = tmp_path / "tiny.parquet"
    lines = [[(-111.90, 40.70), (-111.90, 40.71)], [(-111.90, 40.71), (-111.89, 40.71)]]
    _write_lonlat_streets(path, lines, ["residential", "primary"])
    tiny = StreetNetwork.load(path)
    assert tiny.node_count == 3 and tiny.edge_count == 2
    assert tiny.edge_length_m[0] == pytest.approx(haversine_m(40.70, -111.9, 40.71, -111.9), 0.003)
    assert tiny.edge_highway(1) == "primary"


def test_bad_files_get_a_clear_message(tmp_path):
    """A file that is not GeoParquet, or lacks the highway column, is refused by name."""
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ValueError, match="junk.parquet: not a readable GeoParquet"):
        StreetNetwork.load(junk)
    no_class = tmp_path / "noclass.parquet"
    pq.write_table(pa.table({"geometry": [b"\x00"]}), no_class)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['highway'\]"):
        StreetNetwork.load(no_class)
    with pytest.raises(FileNotFoundError, match="cannot read"):
        StreetNetwork.load(tmp_path / "absent.parquet")


def test_chains_cover_every_street_once(net):
    """Junction-to-junction chains hold every edge exactly once and start and end at junctions."""
    ch = net.chains
    assert np.array_equal(np.sort(ch.edges), np.arange(net.edge_count))
    degree = np.bincount(np.concatenate([net.edge_u, net.edge_v]), minlength=net.node_count)
    assert (degree[ch.start] != 2).all() and (degree[ch.stop] != 2).all()
    assert ((ch.node_chain >= 0) == (degree == 2)).all()
    assert len(ch.start) < net.edge_count / 3  # most nodes only shape a street's bend


def _fresh_load(path, monkeypatch) -> StreetNetwork:
    """Load ``path`` as a new process would (nothing parsed yet in this one)."""
    monkeypatch.setattr(roads, "_CACHE", {})
    return StreetNetwork.load(path)


def _posted_streets(path) -> None:
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["LineString"]}},
    }
    lines = [[(-111.90, 40.70), (-111.90, 40.71)], [(-111.90, 40.71), (-111.89, 40.71)]]
    table = pa.table(
        {
            "highway": ["residential", "primary"],
            "oneway": [True, None],
            "maxspeed_kmh": [None, 70.0],
            "geometry": shapely.to_wkb(shapely.linestrings(lines)).tolist(),
        }
    )
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)


def test_a_second_start_reads_the_saved_arrays_not_the_parquet(tmp_path, monkeypatch):
    """After the first read, a new process gets the same network from the arrays saved next
    to the street file, without parsing the parquet (pyarrow stays unloaded)."""
    path = tmp_path / "posted.parquet"
    _posted_streets(path)
    first = _fresh_load(path, monkeypatch)
    assert roads.arrays_path(path).exists()

    def no_parse(*_):
        raise AssertionError("the parquet was parsed again")

    monkeypatch.setattr(StreetNetwork, "_parse", classmethod(no_parse))
    again = _fresh_load(path, monkeypatch)
    for f in dataclasses.fields(StreetNetwork):
        a, b = getattr(first, f.name), getattr(again, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f.name
        else:
            assert a == b, f.name
    assert again.edge_highway(1) == "primary" and again.edge_oneway.tolist() == [True, False]
    assert np.isnan(again.edge_maxspeed_kmh[0]) and again.edge_maxspeed_kmh[1] == 70.0


def test_a_changed_street_file_is_read_anew(tmp_path, monkeypatch):
    """Arrays saved for an earlier version of the street file are not used."""
    path = tmp_path / "city.parquet"
    _write_lonlat_streets(path, [[(-111.90, 40.70), (-111.90, 40.71)]], ["residential"])
    assert _fresh_load(path, monkeypatch).edge_count == 1
    lines = [[(-111.90, 40.70), (-111.90, 40.71)], [(-111.90, 40.71), (-111.89, 40.71)]]
    _write_lonlat_streets(path, lines, ["residential", "primary"])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert _fresh_load(path, monkeypatch).edge_count == 2
    assert _fresh_load(path, monkeypatch).edge_count == 2  # and its arrays were saved anew


def test_arrays_in_a_folder_follow_their_street_file(tmp_path, monkeypatch):
    """Arrays kept in a folder of their own (the data folder) are named per street file
    (two files of one name do not share them) and a changed street file is read anew."""
    folder = tmp_path / "arrays"
    folder.mkdir()
    path = tmp_path / "a" / "city.parquet"
    other = tmp_path / "b" / "city.parquet"
    path.parent.mkdir()
    other.parent.mkdir()
    _write_lonlat_streets(path, [[(-111.90, 40.70), (-111.90, 40.71)]], ["residential"])
    lines = [[(-111.90, 40.70), (-111.90, 40.71)], [(-111.90, 40.71), (-111.89, 40.71)]]
    _write_lonlat_streets(other, lines, ["residential", "primary"])
    monkeypatch.setattr(roads, "_CACHE", {})
    assert StreetNetwork.load(path, arrays_dir=folder).edge_count == 1
    monkeypatch.setattr(roads, "_CACHE", {})
    assert StreetNetwork.load(other, arrays_dir=folder).edge_count == 2
    assert len(list(folder.iterdir())) == 2 and not roads.arrays_path(path).exists()
    _write_lonlat_streets(path, lines + [[(-111.89, 40.71), (-111.88, 40.71)]], ["a", "b", "c"])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    monkeypatch.setattr(roads, "_CACHE", {})
    assert StreetNetwork.load(path, arrays_dir=folder).edge_count == 3
    monkeypatch.setattr(roads, "_CACHE", {})
    assert StreetNetwork.load(other, arrays_dir=folder).edge_count == 2


def test_a_damaged_arrays_file_falls_back_to_the_street_file(tmp_path, monkeypatch):
    path = tmp_path / "city.parquet"
    _write_lonlat_streets(path, [[(-111.90, 40.70), (-111.90, 40.71)]], ["residential"])
    _fresh_load(path, monkeypatch)
    roads.arrays_path(path).write_bytes(b"PK\x03\x04 torn")
    assert _fresh_load(path, monkeypatch).edge_count == 1


def test_the_shipped_network_starts_without_pyarrow(tmp_path, monkeypatch):
    """With its arrays saved, loading the demo city's streets leaves pyarrow unloaded (on a
    fresh checkout too: the network read earlier in this process must not stand in for the
    save, as the in-process cache did)."""
    monkeypatch.setattr(roads, "_CACHE", {})
    StreetNetwork.load(DEMO_CITY_NETWORK, arrays_dir=tmp_path)  # saves the arrays there
    code = (
        "import sys; from pathlib import Path; "
        "from engine.roads import StreetNetwork, DEMO_CITY_NETWORK as D; "
        f"n = StreetNetwork.load(D, arrays_dir=Path({str(tmp_path)!r})); "
        "print(n.edge_count, 'pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(StreetNetwork.load(DEMO_CITY_NETWORK).edge_count), "False"]
