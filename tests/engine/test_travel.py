"""Travel matrices: haversine fallback and fastest paths over the street network."""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from engine.geo import haversine_m, haversine_matrix_m
from engine.model import Location
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
from engine.travel import (
    HaversineTravelModel,
    StreetNetworkTravelModel,
    TravelMatrices,
    TravelModel,
)

DENVER = ZoneInfo("America/Denver")


@pytest.fixture(scope="module")
def net() -> StreetNetwork:
    """The shipped Salt Lake City network."""
    return StreetNetwork.load(DEMO_CITY_NETWORK)


@pytest.fixture(scope="module")
def street_points(net) -> list[Location]:
    """Sixty delivery points on the city's streets."""
    pts = net.random_street_points(np.random.default_rng(42), 60)
    return [Location(float(a), float(b)) for a, b in zip(pts.lat, pts.lon, strict=True)]


def test_models_follow_the_protocol(net):
    """Every model can stand wherever a TravelModel is expected."""
    assert isinstance(HaversineTravelModel(), TravelModel)
    assert isinstance(StreetNetworkTravelModel(net), TravelModel)


def test_haversine_model_applies_detour_and_speed():
    """Distance is great circle x detour; time is that distance at the given speed."""
    pts = [Location(40.70, -111.90), Location(40.71, -111.90), Location(40.70, -111.88)]
    m = HaversineTravelModel(speed_kmh=36, detour=1.5).matrices(pts)
    straight = haversine_matrix_m(np.array([p.lat for p in pts]), np.array([p.lon for p in pts]))
    assert np.allclose(m.distance_m, straight * 1.5)
    assert np.allclose(m.duration_s, m.distance_m / 10.0)
    assert np.all(np.diag(m.duration_s) == 0)
    with pytest.raises(ValueError, match="detour"):
        HaversineTravelModel(detour=0.5)


def test_haversine_legs_are_the_entries_of_the_matrix_to_the_bit():
    """A route's legs one by one, as its matrix has them (its planned distance is their
    sum, without the square matrix of its stops)."""
    rng = np.random.default_rng(5)
    pts = [Location(float(a), float(b))
           for a, b in zip(rng.uniform(-60, 60, 300), rng.uniform(-179, 179, 300), strict=True)]  # fmt: skip
    model = HaversineTravelModel()
    matrix = model.matrices(pts).distance_m
    lat, lon = np.array([p.lat for p in pts]), np.array([p.lon for p in pts])
    frm, to = rng.integers(0, 300, 5000), rng.integers(0, 300, 5000)
    legs = model.leg_distances_m(lat[frm], lon[frm], lat[to], lon[to])
    assert legs.tobytes() == matrix[frm, to].tobytes()
    assert (model.leg_distances_m(lat, lon, lat, lon) == 0).all()


def test_travel_matrices_must_be_square():
    """A malformed matrix pair is refused with its shape."""
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        TravelMatrices(np.zeros((2, 3)), np.zeros((2, 3)))


def test_street_matrix_is_symmetric_and_zero_on_the_diagonal(net, street_points):
    """Two-way streets: A to B costs what B to A costs; a point to itself costs nothing."""
    m = StreetNetworkTravelModel(net).matrices(street_points)
    assert m.distance_m.shape == (60, 60) and m.distance_m.dtype == np.float64
    assert np.allclose(m.distance_m, m.distance_m.T)
    assert np.allclose(m.duration_s, m.duration_s.T)
    assert np.all(np.diag(m.distance_m) == 0) and np.all(np.diag(m.duration_s) == 0)


def test_street_times_satisfy_the_triangle_inequality(net, street_points):
    """No detour through a third point is faster than the fastest path."""
    d = StreetNetworkTravelModel(net).matrices(street_points).duration_s
    via = (d[:, :, None] + d[None, :, :]).min(axis=1)
    assert np.all(d <= via + 0.5)


def test_street_travel_is_never_shorter_than_straight_line(net, street_points):
    """Streets are at least as long as the crow flies, and no faster than 100 km/h."""
    m = StreetNetworkTravelModel(net).matrices(street_points)
    lat = np.array([p.lat for p in street_points])
    lon = np.array([p.lon for p in street_points])
    straight = haversine_matrix_m(lat, lon)
    assert np.all(m.distance_m >= straight * 0.995 - 0.5)
    assert np.all(m.duration_s >= straight / (100 / 3.6) * 0.995 - 0.5)
    off = ~np.eye(60, dtype=bool)
    assert np.median(m.distance_m[off] / straight[off]) > 1.1


def test_rush_hour_is_slower_than_night(net, street_points):
    """The same trips take longer at 17:00 than at 02:00, over the same streets."""
    model = StreetNetworkTravelModel(net, timezone="America/Denver")
    night = model.matrices(street_points, datetime(2026, 11, 24, 2, tzinfo=DENVER))
    rush = model.matrices(street_points, datetime(2026, 11, 24, 17, tzinfo=DENVER))
    off = ~np.eye(60, dtype=bool)
    ratio = rush.duration_s[off] / night.duration_s[off]
    assert np.all(ratio >= 1.0) and np.median(ratio) > 1.3
    assert model.period(datetime(2026, 11, 25, 0, tzinfo=ZoneInfo("UTC"))) == ("pm_peak", 17)


def test_junction_shortcut_gives_the_full_graphs_times(net, street_points):
    """Times over the junction graph equal plain Dijkstra over every street segment."""
    model = StreetNetworkTravelModel(net)
    m = model.matrices(street_points)
    lat = np.array([p.lat for p in street_points])
    lon = np.array([p.lon for p in street_points])
    nodes, access_m = net.snap(lat, lon)
    seconds = net.graph(net.edge_length_m / (net.edge_speed_kmh(None) / 3.6))
    ref = dijkstra(seconds, directed=True, indices=nodes)[:, nodes]
    ref += (access_m[:, None] + access_m[None, :]) / model.access_mps
    np.fill_diagonal(ref, 0.0)
    assert np.allclose(m.duration_s, ref, atol=0.5)


def test_point_outside_the_network_is_refused_clearly(net, street_points):
    """A point far from every street (another city) is named, not silently snapped."""
    denver = Location(39.7392, -104.9903)
    with pytest.raises(ValueError, match=r"point 2 \(39.739200, -104.990300\) is \d+ m from"):
        StreetNetworkTravelModel(net).matrices([*street_points[:2], denver])


def test_adding_one_point_reuses_the_cached_matrix(net, street_points):
    """An urgent extra point costs one shortest-path run, and old entries stay the same."""
    model = StreetNetworkTravelModel(net)
    first = model.matrices(street_points)
    started = time.perf_counter()
    more = model.matrices([*street_points, Location(40.7505, -111.8879)])
    assert time.perf_counter() - started < 0.5
    assert np.array_equal(more.duration_s[:60, :60], first.duration_s)
    assert more.duration_s[60, :60].min() > 0


def test_fastest_path_time_and_its_length_come_together(tmp_path):
    """A motorway detour beats a slow direct street; the distance is the detour's."""
    a, b, c = (-111.90, 40.700), (-111.90, 40.709), (-111.894, 40.7045)
    lines = [[a, b], [a, c], [c, b]]
    geo = {"primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    table = pa.table(
        {
            "highway": ["residential", "motorway", "motorway"],
            "geometry": shapely.to_wkb(shapely.linestrings(lines)).tolist(),
        }
    )
    path = tmp_path / "detour.parquet"
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)
    tiny = StreetNetwork.load(path)
    m = StreetNetworkTravelModel(tiny).matrices([Location(a[1], a[0]), Location(b[1], b[0])])
    detour = tiny.edge_length_m[1] + tiny.edge_length_m[2]
    assert m.distance_m[0, 1] == pytest.approx(detour, abs=0.2)
    assert m.duration_s[0, 1] == pytest.approx(detour / (100 / 3.6), abs=0.05)
    assert tiny.edge_length_m[0] < detour  # the direct street was shorter, but slower


def test_route_polyline_follows_the_fastest_streets(net, street_points):
    """A route's drawn line runs from stop to stop and is as long as the matrix says."""
    stops = street_points[:6]
    model = StreetNetworkTravelModel(net)
    line = model.route_polyline(stops)
    assert tuple(line[0]) == (stops[0].lat, stops[0].lon)
    assert tuple(line[-1]) == (stops[-1].lat, stops[-1].lon)
    drawn = sum(haversine_m(*line[i], *line[i + 1]) for i in range(len(line) - 1))
    m = model.matrices(stops)
    assert drawn == pytest.approx(sum(m.distance_m[i, i + 1] for i in range(5)), rel=0.005)
    assert net.distance_to_street_m(line[1:-1, 0], line[1:-1, 1]).max() < 0.01


def test_drawing_a_route_keeps_no_junction_results(net, street_points):
    """The map draws routes all day: drawing one leaves the cached junction results as
    they were (nothing new held), and the line is the same as with the cache warm."""
    stops = street_points[:6]
    cold = StreetNetworkTravelModel(net)
    line = cold.route_polyline(stops)
    assert [p.count for p in cold._periods.values()] == [0]
    warm = StreetNetworkTravelModel(net)
    warm.matrices(stops)
    held = [p.count for p in warm._periods.values()]
    assert held[0] > 0
    assert np.array_equal(warm.route_polyline(stops), line)
    assert [p.count for p in warm._periods.values()] == held
    warm.route_polyline(street_points[6:12])  # new junctions: not kept either
    assert [p.count for p in warm._periods.values()] == held


def test_drawing_routes_from_the_cache_does_not_keep_it_from_the_idle_let_go(net, street_points):
    """The map redraws routes all day; a cache only those drawings read is still let go
    once the plan and the ETAs have not asked for it for a while."""
    stops = street_points[:6]
    model = StreetNetworkTravelModel(net)
    model.matrices(stops)
    (period,) = model._periods.values()
    period.last_used -= 600.0  # ten minutes since the plan asked
    assert np.isfinite(model.route_polyline(stops)).all()  # answered from the cache
    assert model.release_idle(300.0, at_least_bytes=0) > 0
    assert period.count == 0


@pytest.mark.slow
def test_demo_sized_matrix_is_quick(net):
    """A demo day's 430 points get their street matrix in a few seconds."""
    pts = net.random_street_points(np.random.default_rng(7), 430)
    points = [Location(float(a), float(b)) for a, b in zip(pts.lat, pts.lon, strict=True)]
    started = time.perf_counter()
    m = StreetNetworkTravelModel(net).matrices(points, datetime(2026, 11, 24, 8, tzinfo=DENVER))
    assert time.perf_counter() - started < 15.0  # ~2.5 s here; generous for a busy machine
    assert np.isfinite(m.duration_s).all() and m.size == 430


def _one_way_town(tmp_path) -> StreetNetwork:
    """Two junctions A and B joined by a short one-way street A->B (three pieces), a long
    two-way way round via C, a one-way street B->D->A drawn against its walk, and stubs."""
    lon0, lat0 = -111.90, 40.70
    step = 0.001

    def pt(x: float, y: float) -> tuple[float, float]:
        return (lon0 + x * step, lat0 + y * step)

    a, b = pt(0, 0), pt(0, 3)
    lines = [
        [a, pt(0, 1)],  # one-way A -> B
        [pt(0, 1), pt(0, 2)],
        [pt(0, 2), b],
        [a, pt(4, 0)],  # two-way round about C
        [pt(4, 0), pt(4, 3)],
        [pt(4, 3), b],
        [b, pt(-2, 3)],  # one-way B -> D -> A, pieces drawn in driving order
        [pt(-2, 3), pt(-2, 0)],
        [pt(-2, 0), a],
        [a, pt(0, -1)],  # stubs so A and B are junctions
        [b, pt(0, 4)],
        [pt(0, 4), pt(0, 6)],  # one-way out to where the extract ends: no way back
    ]
    oneway = [True, True, True, False, False, False, True, True, True, False, False, True]
    geo = {"primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    table = pa.table(
        {
            "highway": ["residential"] * len(lines),
            "oneway": oneway,
            "geometry": shapely.to_wkb(shapely.linestrings(lines)).tolist(),
        }
    )
    path = tmp_path / "oneway.parquet"
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)
    return StreetNetwork.load(path)


def _node_points(net: StreetNetwork) -> list[Location]:
    """A point at every node a vehicle can both reach and leave."""
    nodes = net.drivable_nodes
    assert nodes is not None and len(nodes) == net.node_count - 1
    lat, lon = net.node_lat[nodes], net.node_lon[nodes]
    return [Location(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


def test_one_way_street_is_driven_only_its_way(tmp_path):
    """A->B takes the short one-way street; B->A must go round, and takes longer."""
    town = _one_way_town(tmp_path)
    assert town.has_oneway
    a, b = Location(40.700, -111.900), Location(40.703, -111.900)
    m = StreetNetworkTravelModel(town).matrices([a, b])
    assert m.distance_m[0, 1] == pytest.approx(haversine_m(40.700, -111.9, 40.703, -111.9), 0.01)
    assert m.duration_s[1, 0] > 1.5 * m.duration_s[0, 1]
    assert m.distance_m[1, 0] > 1.5 * m.distance_m[0, 1]


def test_one_way_matrix_matches_plain_dijkstra_between_every_node(tmp_path):
    """Every node to every node, inside streets or at junctions, cold and grown point by
    point, equals Dijkstra over the directed graph of all street pieces."""
    town = _one_way_town(tmp_path)
    points = _node_points(town)
    seconds = town.graph(town.edge_length_m / (town.edge_speed_kmh(None) / 3.6))
    nodes, _ = town.snap([p.lat for p in points], [p.lon for p in points])
    ref = dijkstra(seconds, directed=True, indices=nodes)[:, nodes]
    assert not np.allclose(ref, ref.T)
    cold = StreetNetworkTravelModel(town).matrices(points)
    assert np.allclose(cold.duration_s, ref, atol=0.05)
    grown = StreetNetworkTravelModel(town)
    for k in range(2, len(points) + 1):  # each new point joins the cached junctions
        m = grown.matrices(points[:k])
    assert np.array_equal(m.duration_s, cold.duration_s)
    d, t = StreetNetworkTravelModel(town).matrices_between(points[3:], points[:5])
    off = np.array([[i + 3 != j for j in range(5)] for i in range(len(points) - 3)])
    assert np.array_equal(t[off], cold.duration_s[3:, :5][off])


def test_route_polyline_goes_round_a_one_way_street(tmp_path):
    """B->A is drawn round by the one-way street B->D->A, as long as the matrix says."""
    town = _one_way_town(tmp_path)
    a, b = Location(40.700, -111.900), Location(40.703, -111.900)
    model = StreetNetworkTravelModel(town)
    m = model.matrices([a, b])
    for i, j in ((0, 1), (1, 0)):
        line = model.route_polyline([[a, b][i], [a, b][j]])
        drawn = sum(haversine_m(*line[k], *line[k + 1]) for k in range(len(line) - 1))
        assert drawn == pytest.approx(m.distance_m[i, j], rel=0.005)
        cold = StreetNetworkTravelModel(town).route_polyline([[a, b][i], [a, b][j]])
        assert np.array_equal(cold, line)  # found without the cached results, the same
    assert line[:, 1].min() < -111.901  # went west by D, not down the one-way street A->B


def test_network_with_nothing_one_way_gives_the_same_matrix(net, street_points):
    """The shipped city, with one-way data that marks nothing, plans exactly as without."""
    import dataclasses

    plain = StreetNetworkTravelModel(net).matrices(street_points)
    marked = dataclasses.replace(net, edge_oneway=np.zeros(net.edge_count, dtype=bool))
    assert not marked.has_oneway
    again = StreetNetworkTravelModel(marked).matrices(street_points)
    assert np.array_equal(plain.duration_s, again.duration_s)
    assert np.array_equal(plain.distance_m, again.distance_m)


def test_city_with_one_way_streets_matches_plain_dijkstra(net, street_points):
    """The shipped city with a tenth of its streets made one-way at random (many dead ends
    only enterable or only leavable): points snap to streets a van can reach and leave, the
    matrix is asymmetric and equals Dijkstra over every street piece."""
    import dataclasses

    rng = np.random.default_rng(5)
    city = dataclasses.replace(net, edge_oneway=rng.random(net.edge_count) < 0.1)
    lat = np.array([p.lat for p in street_points])
    lon = np.array([p.lon for p in street_points])
    nodes, access_m = city.snap_drivable(lat, lon)
    seconds = city.graph(city.edge_length_m / (city.edge_speed_kmh(None) / 3.6))
    ref = dijkstra(seconds, directed=True, indices=nodes)[:, nodes]
    plain, _ = city.snap(lat, lon)
    assert (plain != nodes).any()  # some nearest nodes lie behind one-ways: not snapped to
    assert np.isfinite(ref).all()
    ref += (access_m[:, None] + access_m[None, :]) / 15.0 * 3.6
    np.fill_diagonal(ref, 0.0)
    m = StreetNetworkTravelModel(city).matrices(street_points)
    assert np.allclose(m.duration_s, ref, atol=0.5)
    assert not np.allclose(m.duration_s, m.duration_s.T)


def test_point_past_a_one_way_dead_end_snaps_where_a_van_can_turn_back(tmp_path):
    """The end of a one-way street leading out of the map is not a trap: its point is
    reached from the nearest street a van can also leave, and the trip there and back is
    finite."""
    town = _one_way_town(tmp_path)
    end, a = Location(40.706, -111.900), Location(40.700, -111.900)
    m = StreetNetworkTravelModel(town).matrices([a, end])
    assert np.isfinite(m.duration_s).all()
    assert m.distance_m[0, 1] == pytest.approx(haversine_m(40.7, -111.9, 40.706, -111.9), 0.01)


class _SquareOnly:
    """A model with square matrices only (no ``matrices_between``), as a server-backed or
    hand-made one may be: the departure it is asked at is kept."""

    def __init__(self) -> None:
        self.base = HaversineTravelModel()
        self.asked: list[datetime | None] = []

    def matrices(self, points, depart=None) -> TravelMatrices:
        self.asked.append(depart)
        return self.base.matrices(points, depart)


def test_travel_between_uses_a_models_rectangle_or_cuts_it_from_its_square_matrices():
    """From each source to each target: the model's own rectangular call where it has one,
    else the block of its square matrices over both sets, at the departure asked; the
    same figures either way."""
    from engine.travel import travel_between

    sources = [Location(40.76, -111.89), Location(40.70, -111.95)]
    targets = [Location(40.74, -111.85), Location(40.78, -111.92), Location(40.72, -111.88)]
    square = _SquareOnly()
    depart = datetime(2026, 3, 2, 7, 40, tzinfo=DENVER)
    d_sq, t_sq = travel_between(square, sources, targets, depart)
    d_rect, t_rect = travel_between(HaversineTravelModel(), sources, targets, depart)
    assert d_sq.shape == t_sq.shape == (2, 3) and square.asked == [depart]
    assert np.allclose(d_sq, d_rect) and np.allclose(t_sq, t_rect)
    assert d_rect.dtype == np.float64


def test_idle_junction_results_are_let_go_and_computed_again_the_same(net, street_points):
    """Junction results nobody asked for within the idle time are let go (a big day's are
    tens of megabytes held all day); a later request computes them again, to the bit."""
    model = StreetNetworkTravelModel(net, timezone="America/Denver")
    first = model.matrices(street_points)
    assert model.release_idle(3600.0, at_least_bytes=0) == 0  # just used
    held = sum(p.packed.nbytes for p in model._periods.values())
    assert held > 0
    assert model.release_idle(0.0, at_least_bytes=held + 1) == 0  # smaller than worth it
    with model._lock:  # another thread computing: the window's thread does not wait for it
        assert model.release_idle(0.0, at_least_bytes=0) == 0
    assert model.release_idle(0.0, at_least_bytes=0) == held
    assert all(p.count == 0 and p.packed.nbytes == 0 for p in model._periods.values())
    again = model.matrices(street_points)
    assert np.array_equal(again.duration_s, first.duration_s)
    assert np.array_equal(again.distance_m, first.distance_m)
