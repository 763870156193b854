"""Importing a city's streets and planning on them: time, memory, a 400-point matrix.

``python -m bench.roads`` writes an OpenStreetMap extract (.osm.pbf) from the shipped
city's streets (``--copies N`` lays N copies side by side, joined by a road, for a bigger
city), imports it as ``roads import`` does in a fresh process (wall time, peak memory) and
times a cold 400-point street matrix on the imported network (points on streets).
``--file`` imports a file of your own instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_pbf(path: Path, copies: int) -> int:
    """The shipped street segments as OSM ways (shared end points = shared nodes)."""
    import osmium
    from osmium.osm.mutable import Node, Way

    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

    net = StreetNetwork.load(DEMO_CITY_NETWORK)
    lines = net.edge_polylines
    # The import makes motorways one-way: join the copies where a van can come and go.
    motorway = np.char.startswith(np.asarray(net.classes, dtype=str), "motorway")
    directed = dataclasses.replace(net, edge_oneway=motorway[net.edge_class])
    core = directed.drivable_nodes
    assert core is not None
    width = net.bounds.east - net.bounds.west + 0.01
    writer = osmium.SimpleWriter(str(path))
    node_id, way_id, nodes_written, joint = 1, 1, 0, 0
    for k in range(copies):
        shift = k * width
        ids: dict[tuple[int, int], int] = {}
        lat = np.round(lines.lat, 7)
        lon = np.round(lines.lon + shift, 7)
        end_lat, end_lon = np.round(net.node_lat[core], 7), np.round(net.node_lon[core] + shift, 7)
        ends = {(int(a * 1e7), int(b * 1e7)) for a, b in zip(end_lat, end_lon, strict=True)}
        way_nodes: list[list[int]] = []
        for e in range(len(lines.offsets) - 1):
            refs = []
            for i in range(lines.offsets[e], lines.offsets[e + 1]):
                key = (int(lat[i] * 1e7), int(lon[i] * 1e7))
                ref = ids.get(key)
                if ref is None:
                    ref = ids[key] = node_id
                    node_id += 1
                    writer.add_node(Node(id=ref, location=(float(lon[i]), float(lat[i]))))
                    nodes_written += 1
                if not refs or refs[-1] != ref:
                    refs.append(ref)
            way_nodes.append(refs)
        for e, refs in enumerate(way_nodes):
            if len(refs) >= 2:
                tags = {"highway": lines.classes[int(lines.highway[e])]}
                writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
                way_id += 1
        if k:  # join this copy to the previous one: a road between their nearest corners
            west = min((kv for kv in ids.items() if kv[0] in ends), key=lambda kv: kv[0][1])
            writer.add_way(Way(id=way_id, nodes=[joint, west[1]], tags={"highway": "primary"}))
            way_id += 1
        joint = max((kv for kv in ids.items() if kv[0] in ends), key=lambda kv: kv[0][1])[1]
    writer.close()
    return nodes_written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roads", description=__doc__)
    parser.add_argument("--copies", type=int, default=2, help="copies of the city (default 2)")
    parser.add_argument("--file", help="import this file instead of a generated extract")
    parser.add_argument("--points", type=int, default=400)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        if args.file:
            source = Path(args.file)
            print(f"Importing {source}")
        else:
            source = data / f"city_x{args.copies}.osm.pbf"
            started = time.perf_counter()
            n = write_pbf(source, args.copies)
            print(f"Wrote {source.name}: {n:,} OSM nodes, {source.stat().st_size / 1e6:.1f} MB "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
        cmd = [sys.executable, "-c",
               "import sys, resource, json; from main import main; "
               "code = main(sys.argv[1:]); "
               "print(json.dumps({'peak_mb': resource.getrusage(resource.RUSAGE_SELF)"
               ".ru_maxrss / 1024}), file=sys.stderr); sys.exit(code)",
               "roads", "import", str(source), "--name", "bench", "--json",
               "--data-dir", str(data)]  # fmt: skip
        started = time.perf_counter()
        before = os.times()
        done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        wall = time.perf_counter() - started
        after = os.times()
        child_cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        if done.returncode:
            print(done.stdout, done.stderr)
            return 1
        report = json.loads(done.stdout)
        peak = json.loads(done.stderr.strip().splitlines()[-1])["peak_mb"]
        print(f"Import: {report['nodes']:,} street nodes, {report['edges']:,} edges, "
              f"{report['km']:,.0f} km, {report['components']} component(s); "
              f"{wall:.1f} s wall for the whole command ({child_cpu:.1f} s of CPU time), "
              f"peak {peak:.0f} MB")  # fmt: skip
        from engine.model import Location
        from engine.roads import StreetNetwork
        from engine.travel import StreetNetworkTravelModel

        started = time.perf_counter()
        net = StreetNetwork.load(data / "roads" / "bench.parquet")
        load_s = time.perf_counter() - started
        pts = net.random_street_points(np.random.default_rng(1), args.points)
        points = [Location(float(a), float(b)) for a, b in zip(pts.lat, pts.lon, strict=True)]
        model = StreetNetworkTravelModel(net)
        started, cpu = time.perf_counter(), time.process_time()
        m = model.matrices(points)
        matrix_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        print(f"Load: {load_s:.1f} s. A cold {args.points}-point matrix: {matrix_s:.1f} s "
              f"({cpu_s:.1f} s of CPU time; mean trip {m.distance_m.mean() / 1000:.1f} km)")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
