"""The demo day: deterministic, realistic, on real streets, in the import format."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date

import numpy as np
import pytest

from app.importer.reading import collect_sources
from app.importer.validate import Known, validate_sources
from app.simulator.demo_day import DEMO_TIMEZONE, demo_today, generate_demo_day, write_demo_day
from engine.roads import DEMO_CITY_NETWORK, NO_DELIVERY, StreetNetwork
from main import main

DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def net() -> StreetNetwork:
    """The shipped Salt Lake City network."""
    return StreetNetwork.load(DEMO_CITY_NETWORK)


@pytest.fixture(scope="module")
def demo(net):
    """The demo day for seed 7 on 24 November 2026."""
    return generate_demo_day(7, DAY, net)


def _bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path, capsys):
    """Two runs with one seed and day write exactly the same four files."""
    for name in ("a", "b"):
        code = main(["demo", "--seed", "11", "--out", str(tmp_path / name), "--day", "2026-11-24"])
        assert code == 0
    first, second = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert sorted(first) == [
        "depots.csv", "docks.csv", "drivers.csv", "orders.csv", "vehicles.csv", "waves.csv"
    ]  # fmt: skip
    assert first == second
    assert "400 orders" in capsys.readouterr().out


def test_another_seed_gives_another_day(tmp_path, net, demo):
    """A different seed moves the orders; the depot and fleet stay the same."""
    write_demo_day(demo, tmp_path / "a")
    write_demo_day(generate_demo_day(8, DAY, net), tmp_path / "b")
    a, b = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert a["orders.csv"] != b["orders.csv"]
    assert a["depots.csv"] == b["depots.csv"] and a["vehicles.csv"] == b["vehicles.csv"]


def test_demo_has_a_realistic_fleet(demo):
    """About 25 vehicles of two types, one driver each, some refrigerated, two shifts."""
    assert len(demo.depots) == 1 and demo.depots[0].timezone == DEMO_TIMEZONE
    assert len(demo.depots[0].docks) >= 2
    assert len(demo.vehicles) == 25
    types = Counter(v.type_name for v in demo.vehicles)
    assert set(types) == {"van", "box_truck"} and min(types.values()) >= 5
    assert sum("refrigerated" in v.skills for v in demo.vehicles) >= 3
    assert sorted(d.vehicle_id for d in demo.drivers) == sorted(v.id for v in demo.vehicles)
    assert {(d.shift_start.hour, d.shift_end.hour) for d in demo.drivers} == {(7, 16), (10, 19)}
    assert all(len(d.breaks) == 1 and d.breaks[0].duration.seconds == 1800 for d in demo.drivers)


def test_demo_orders_mix_windows_and_waves(demo):
    """~400 orders in two waves, with morning, afternoon, 2-hour and two-window deliveries."""
    orders = demo.orders
    assert len(orders) == 400 and len({o.id for o in orders}) == 400
    assert Counter(o.wave for o in orders).keys() == {"W1", "W2"}
    spans = Counter(tuple((w.start.hour, w.end.hour) for w in o.windows) for o in orders)
    assert spans[((8, 12),)] > 40 and spans[((13, 17),)] > 40
    assert sum(n for s, n in spans.items() if len(s) == 1 and s[0][1] - s[0][0] == 2) > 80
    assert sum(n for s, n in spans.items() if len(s) == 2) > 10
    assert all(3 <= o.service_time.total_seconds() / 60 <= 10 for o in orders)
    assert any(o.priority > 0 for o in orders)
    assert all(o.customer and o.address[0].isdigit() for o in orders)


def test_demo_day_fits_the_fleet(demo):
    """Total demand fits the fleet, and every order fits some vehicle with its skills."""
    for dim in ("kg", "m3"):
        demand = sum(o.demand.get(dim, 0) for o in demo.orders)
        capacity = sum(v.capacity.get(dim, 0) for v in demo.vehicles)
        assert demand < 0.75 * capacity
    for o in demo.orders:
        assert any(v.can_carry(o.demand) and o.skills <= v.skills for v in demo.vehicles), o.id
    first_shift = min(d.shift_start for d in demo.drivers)
    last_shift = max(d.shift_end for d in demo.drivers)
    assert all(first_shift < o.earliest and o.latest < last_shift for o in demo.orders)


def test_every_demo_point_is_on_a_street(demo, net):
    """Orders and the depot lie within a few metres of a real street, off the motorways."""
    lat = np.array([o.location.lat for o in demo.orders] + [demo.depots[0].location.lat])
    lon = np.array([o.location.lon for o in demo.orders] + [demo.depots[0].location.lon])
    edges, metres = net.nearest_edge(lat, lon)
    assert metres.max() < 3.0
    assert not any(net.edge_highway(e) in NO_DELIVERY for e in edges[:-1])


def test_times_carry_the_depot_offset(tmp_path, net):
    """Times are written in ISO 8601 with Denver's offset: -07:00 in winter, -06:00 in summer."""
    write_demo_day(generate_demo_day(7, date(2026, 7, 1), net), tmp_path)
    with (tmp_path / "orders.csv").open(encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["window_start"].startswith("2026-07-01T") and row["window_start"].endswith("-06:00")
    assert generate_demo_day(7, DAY, net).orders[0].earliest.utcoffset().total_seconds() == -25200


def test_written_files_import_as_the_same_day(tmp_path, demo):
    """The importer accepts every row, and reads back exactly the in-memory day."""
    write_demo_day(demo, tmp_path)
    result = validate_sources(collect_sources([tmp_path]), Known(), DAY)
    assert all(not f.issues and not f.error for f in result.report.files)
    assert all(check.ok for check in result.report.day_checks)
    items = {batch.kind: batch.items for batch in result.batches}
    depot = demo.depots[0]
    assert [(d.id, [k.id for k in d.docks]) for d in items["depots"]] == [
        (depot.id, [k.id for k in depot.docks])
    ]
    assert items["docks"] == tuple((depot.id, k) for k in depot.docks)  # with their rates
    assert items["waves"] == demo.waves
    assert items["vehicles"] == demo.vehicles
    assert items["drivers"] == demo.drivers
    assert items["orders"] == demo.orders


def test_demo_has_waves_a_slow_dock_and_late_orders(demo):
    """Two waves with cut-offs and docks, one dock loading at half speed, and a few orders
    that came in on the morning itself, after W1's cut-off (they are W2 orders)."""
    w1, w2 = demo.waves
    assert w1.cutoff < w1.depart_from < w1.depart_to < w2.cutoff < w2.depart_from
    rates = sorted(k.load_minutes_per_order for k in demo.depots[0].docks)
    assert rates[-1] >= 2 * rates[0]
    assert all(o.received_at is not None for o in demo.orders)
    late = [o for o in demo.orders if o.received_at > w1.cutoff]
    assert 3 <= len(late) <= 10 and all(o.wave == "W2" and o.received_at < w2.cutoff for o in late)


def test_default_day_is_today_in_denver(net):
    """Without a day the demo is for today in the demo city."""
    assert generate_demo_day(3, network=net).day == demo_today()


def test_bad_day_is_refused(capsys):
    """A malformed --day stops with a message naming the option and the format."""
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", "x", "--day", "24/11/2026"])
    assert exc.value.code == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
