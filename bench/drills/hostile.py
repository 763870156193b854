"""Hostile traffic drill: the attacks of the trust review mixed into a 2,000-vehicle stream.

A private Mosquitto; the workstation's own telemetry service (decoder, ingest, live state,
batched writer into a SQLite store) watching a synthetic day of ``vehicles`` vans; a
publisher process sending the fleet's real fixes and stop events with the attacks woven in:
numbers beyond 64 bits, a forged huge seq, forged first fixes in another country, stop
events for other vans' stops and for stops nobody serves, another depot's topics, payloads
of megabytes, JSON nested 100,000 deep, garbage, replays, teleports, clocks far off, unknown
and mismatched vehicles, ids too long for the database. Twenty trackers also restart their
counters mid-stream (a reboot, not an attack: they must be heard at once).

Counted as a user would: messages tried per attack, rejects per reason, what got through
anyway (a marker fix on the map or in the store, a spoofed stop changed, a replay applied
twice), real traffic refused (a locked-out tracker), and the writer's stalls and refused
rows. Everything "wrong" must be 0.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import pickle
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MARK = 77.7  # accuracy_m of every forged fix: found on the map or in the store = got through
ATTACKED = 20  # vehicles per targeted attack
PARIS = (48.8566, 2.3522)


@dataclass
class HostileResult:
    """What the hostile traffic drill counted."""

    vehicles: int
    real_sent: int = 0
    tried: dict[str, int] = field(default_factory=dict)  # attack -> messages published
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> messages refused
    not_received: int = 0  # another depot's messages the broker never gave the workstation
    wrongly_applied: dict[str, int] = field(default_factory=dict)
    real_refused: int = 0  # real fixes and events refused: a tracker locked out
    resets: int = 0  # tracker counter restarts recognised
    restarted: int = 0  # trackers that restarted their counter (each must be recognised)
    writer_stalls: int = 0
    rows_refused: int = 0
    applied: int = 0  # fixes applied to the live state
    stored: int = 0  # breadcrumbs in the store afterwards (must equal ``applied``)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not any(self.wrongly_applied.values())
            and self.real_refused == 0
            and self.writer_stalls == 0
            and self.rows_refused == 0
            and self.resets == self.restarted
        )

    def table(self) -> str:
        lines = [f"{'attack':<42} {'tried':>7}"]
        lines += [f"{kind:<42} {n:>7,}" for kind, n in self.tried.items()]
        lines.append(f"{'total':<42} {sum(self.tried.values()):>7,}")
        lines.append("")
        lines.append("rejected by reason: " + ", ".join(
            f"{reason} {n:,}" for reason, n in sorted(self.rejected.items()) if n
        ))  # fmt: skip
        lines.append(
            f"another depot's topics: {self.not_received:,} of "
            f"{self.tried.get(OTHER_DEPOT, 0):,} never reached the workstation (not subscribed)"
        )
        wrong = sum(self.wrongly_applied.values())
        detail = ", ".join(f"{k} {v}" for k, v in self.wrongly_applied.items() if v)
        lines.append(f"wrongly applied: {wrong}" + (f" ({detail})" if detail else ""))
        lines.append(
            f"real traffic refused: {self.real_refused} of {self.real_sent:,} "
            f"(counter restarts recognised: {self.resets} of {self.restarted})"
        )
        lines.append(
            f"writer stalls: {self.writer_stalls}, rows the database refused: {self.rows_refused} "
            f"({self.applied:,} fixes applied, {self.stored:,} breadcrumbs stored)"
        )
        return "\n".join(lines)


OTHER_DEPOT = "another depot's topics (5,000 fixes)"
FIRST = "forged first fix in another country"


def _fix(depot: str, vid: str, seq, ts, lat, lon, **extra) -> tuple[str, bytes]:
    body = {"v": 1, "vehicle_id": vid, "seq": seq, "ts": ts, "lat": lat, "lon": lon,
            "speed_kmh": 30.0, "heading_deg": 90.0, "accuracy_m": MARK}  # fmt: skip
    body.update(extra)
    return f"fleet/{depot}/vehicle/{vid}/telemetry", json.dumps(body).encode()


def _event(depot: str, vid: str, eid: str, ts: float, kind: str, stop) -> tuple[str, bytes]:
    body = {"v": 1, "event_id": eid, "vehicle_id": vid, "ts": ts, "type": kind, "stop_id": stop}
    return f"fleet/{depot}/vehicle/{vid}/event", json.dumps(body).encode()


def build_stream(vehicles: int, seconds: int, seed: int):
    """(day, plan, messages, facts): the real stream with the attacks woven in.

    A message's payload is bytes, or an int N for an oversized one (a valid fix padded to N
    bytes, made by the publisher process so this one never holds it)."""
    import random

    from app.simulator import Simulator, sweep_plan, synthetic_day

    rng = random.Random(seed)
    day = synthetic_day(vehicles, seed=seed)
    plan = sweep_plan(day)
    sim = Simulator(plan, day, seed=seed, incidents=True, gps_noise_m=3.0)
    depot = plan.depot_id
    t0 = sim.start_time + 900  # a quarter of an hour in: vans arriving at their first stops
    sim.skip_to(t0)
    per_second = [sim.step(t0 + s) for s in range(1, seconds + 1)]
    t_end = t0 + seconds

    vids = sorted(r.vehicle_id for r in plan.routes if r.stops)
    picks = rng.sample(vids, 5 * ATTACKED)
    restarted, jumped, far = (
        picks[:ATTACKED],
        picks[ATTACKED : 2 * ATTACKED],
        picks[2 * ATTACKED : 3 * ATTACKED],
    )
    mid = seconds // 2

    # The real stream, with twenty trackers restarting their counter at the midpoint.
    real: list[list[tuple[str, bytes]]] = []
    last_fix: dict[str, dict] = {}
    real_fixes = real_events = 0
    real_event_ids: list[str] = []
    served: set[str] = set()
    base: dict[str, int] = {}
    for s, messages in enumerate(per_second):
        out = []
        for topic, payload in messages:
            msg = json.loads(payload)
            if topic.endswith("/event"):
                real_events += 1
                real_event_ids.append(msg["event_id"])
                if msg.get("stop_id"):
                    served.add(msg["stop_id"])
                out.append((topic, payload))
                continue
            vid = msg["vehicle_id"]
            if vid in restarted and s >= mid:
                seq0 = base.setdefault(vid, msg["seq"])
                msg["seq"] -= seq0  # counts again from 0, later in time
                payload = json.dumps(msg).encode()
            real_fixes += 1
            last_fix[vid] = msg
            out.append((topic, payload))
        real.append(out)

    attacks: dict[str, list[tuple[str, bytes | int]]] = {}
    first: list[tuple[str, bytes]] = []  # before any real traffic

    def add(kind: str, items) -> None:
        attacks.setdefault(kind, []).extend(items)

    def near(vid: str) -> dict:
        return last_fix.get(vid) or next(iter(last_fix.values()))

    for vid in far:  # a forged first fix in Paris, before the van's real one
        first.append(_fix(depot, vid, 1, t0 + 0.5, *PARIS))
    attacks[FIRST] = list(first)
    for vid in jumped:
        m = near(vid)
        add("seq 2^62 on a real van's position", [
            _fix(depot, vid, 2**62, m["ts"] + 0.3, m["lat"], m["lon"])
        ])  # fmt: skip
    for vid in rng.sample(vids, ATTACKED):
        m = near(vid)
        add("seq beyond 64 bits (10^40, 2^63, -1)", [
            _fix(depot, vid, seq, m["ts"] + 0.2, m["lat"], m["lon"])
            for seq in (10**40, 2**63, -1)
        ])  # fmt: skip
    routes = {r.vehicle_id: [s.order_id for s in r.stops] for r in plan.routes if r.stops}
    targets = [
        (vid, stop)
        for vid in rng.sample(vids, 100)
        for stop in routes[vid][-1:]
        if stop not in served
    ]
    senders = rng.sample(vids, len(targets))
    add("stop event for another van's stop", [
        _event(depot, sender, f"atk-spoof-{i}", t_end - 1, "delivered", stop)
        for i, ((owner, stop), sender) in enumerate(zip(targets, senders, strict=True))
        if sender != owner
    ])  # fmt: skip
    add("stop event for a stop nobody serves", [
        _event(depot, rng.choice(vids), f"atk-x-{i}", t_end - 1, "delivered", "x")
        for i in range(200)
    ])  # fmt: skip
    v13 = vids[12]
    add(OTHER_DEPOT, [
        _fix("OTHER-DEPOT", v13, 10**6 + i, t_end - 5 + i / 1000, 40.0, -105.0)
        for i in range(5000)
    ])  # fmt: skip
    add("payload of 1-6 MB (a valid fix + padding)", [
        (f"fleet/{depot}/vehicle/{vid}/telemetry", size * 1_000_000)
        for size, vid in zip(range(1, 7), rng.sample(vids, 6), strict=True)
    ])  # fmt: skip
    topic = f"fleet/{depot}/vehicle/{vids[0]}/telemetry"
    add("JSON nested 100,000 deep (200 KB)", [(topic, b"[" * 100_000 + b"]" * 100_000)] * 5)
    add("JSON nested 5,000 deep in 10 KB", [(topic, b"[" * 5000 + b"]" * 5000)] * 20)
    add("not JSON, wrong types, missing fields", [
        (topic, rng.choice([b"\xff\xfe garbage", b"{\"v\":1,", b"[1,2,3]", b"null",
                            b'{"v":1,"vehicle_id":"%s","seq":"12","ts":1,"lat":1,"lon":1}'
                            % vids[0].encode(), b'{"v":1,"ts":1,"lat":1,"lon":1}']))
        for _ in range(200)
    ])  # fmt: skip
    replays = [p for second in real[: mid - 2] for p in second if p[0].endswith("/telemetry")]
    add("replayed fixes", rng.sample(replays, min(500, len(replays))))
    add("replayed stop events", [
        p for second in real[:mid] for p in second if p[0].endswith("/event")
    ][:100])  # fmt: skip
    for vid in rng.sample(vids, 100):
        m = near(vid)
        add("teleport (100 km in a second)", [
            _fix(depot, vid, m["seq"] + 1, m["ts"] + 0.4, m["lat"] + 0.9, m["lon"])
        ])  # fmt: skip
        add("clock an hour ahead, or two days behind", [
            _fix(depot, vid, m["seq"] + 2, t_end + 3600, m["lat"], m["lon"]),
            _fix(depot, vid, m["seq"] + 3, t_end - 2 * 86400, m["lat"], m["lon"]),
        ])  # fmt: skip
        add("unknown or mismatched vehicle", [
            _fix(depot, "GHOST-" + vid, 1, m["ts"], m["lat"], m["lon"]),
            (f"fleet/{depot}/vehicle/{vid}/telemetry",
             _fix(depot, vids[0] if vid != vids[0] else vids[1], 5, m["ts"], m["lat"], m["lon"])[1]),
        ])  # fmt: skip
        add("null island, speed 10^6, heading 999", [
            _fix(depot, vid, m["seq"] + 4, m["ts"] + 0.5, 0.0, 0.0),
            _fix(depot, vid, m["seq"] + 5, m["ts"] + 0.5, m["lat"], m["lon"], speed_kmh=1e6),
            _fix(depot, vid, m["seq"] + 6, m["ts"] + 0.5, m["lat"], m["lon"], heading_deg=999),
        ])  # fmt: skip
    add("ids too long for the database, NUL in an id", [
        _event(depot, vid, eid, t_end - 1, "breakdown", None)
        for vid, eid in zip(rng.sample(vids, 50), ["atk-" + "e" * 300, "atk-\x00"] * 25, strict=True)
    ])  # fmt: skip

    # Weave: forged first fixes first, then each attack spread evenly over the real stream
    # (replays in its second half, after what they copy).
    seconds_out = [list(s) for s in real]
    for kind, items in attacks.items():
        if kind == FIRST:
            continue
        lo = mid if kind.startswith("replayed") else 1  # never in the first second
        for i, item in enumerate(items):
            at = lo + (i * 7919) % (seconds - lo)
            seconds_out[at].insert(rng.randrange(len(seconds_out[at]) + 1), item)
    messages = first + [m for second in seconds_out for m in second]
    facts = {
        "t_end": t_end,
        "real_fixes": real_fixes,
        "real_events": real_events,
        "real_event_ids": real_event_ids,
        "spoofed_stops": [stop for _, stop in targets],
        "other_depot": len(attacks[OTHER_DEPOT]),
        "restarted": len(base),  # restarted trackers that spoke after their restart
    }
    tried = {kind: len(items) for kind, items in attacks.items()}
    return day, plan, messages, facts, tried


def _publish(url: str, path: str, done) -> None:
    """Child process: publish every message of the file, oversized ones made here."""
    from app.simulator.publisher import Publisher

    messages = pickle.loads(Path(path).read_bytes())
    pub = Publisher(url, qos=1).connect()
    try:
        for topic, payload in messages:
            if isinstance(payload, int):
                head = b'{"v":1,"vehicle_id":"V0001","seq":1,"ts":1,"lat":1,"lon":1,"pad":"'
                payload = head + b"x" * payload + b'"}'
            pub.publish(topic, payload)
        pub.drain(120)
    finally:
        pub.close()
        done.set()


def drill_hostile_traffic(
    vehicles: int = 2000, seconds: int = 20, seed: int = 0, *, broker_url: str | None = None
) -> HostileResult:
    """Run the drill; ``broker_url`` uses that broker instead of a private Mosquitto."""
    from PySide6.QtCore import QCoreApplication
    from sqlalchemy import func, select

    from app.settings import Settings
    from app.store import open_store
    from app.store import repository as repo
    from app.store.models_live import BreadcrumbRow, StopEventRow, VehiclePositionRow
    from app.telemetry.service import TelemetryService
    from bench.telemetry import PrivateMosquitto

    started = time.monotonic()
    result = HostileResult(vehicles)
    day, plan, messages, facts, tried = build_stream(vehicles, seconds, seed)
    result.tried, result.real_sent = tried, facts["real_fixes"] + facts["real_events"]
    result.restarted = facts["restarted"]
    app = QCoreApplication.instance() or QCoreApplication([])
    broker = None if broker_url else PrivateMosquitto()
    url = broker_url or broker.url
    with tempfile.TemporaryDirectory(prefix="dispatch-hostile-") as tmp:
        store = open_store(f"sqlite:///{tmp}/hostile.sqlite3", workstation="hostile-drill")
        with store.session() as s:
            repo.upsert_depots(s, day.depots, actor="drill")
            repo.upsert_vehicles(s, day.vehicles, actor="drill")
        settings = Settings(
            mqtt_url=url, depot_id=plan.depot_id, workstation_id=f"hostile-{uuid.uuid4().hex[:6]}"
        )
        t_end = facts["t_end"]
        service = TelemetryService(
            settings,
            store,
            vehicles=[v.id for v in day.vehicles],
            clock=lambda: t_end + 1.0,
            eval_interval_ms=3_600_000,  # no ETAs here: the stream and what it left behind
        )
        service.watch(plan, day.orders, depot=day.depots[0].location)
        # Every applied fix stays in memory, so what got through is counted below (a desk
        # keeps only the last minute of each trail).
        service.feed.state.trail_points = 10**9
        service.start()
        publisher = None
        try:
            deadline = time.monotonic() + 30
            while service.feed.connection_state != "connected":
                app.processEvents()
                time.sleep(0.01)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the workstation could not connect to {url}")
            time.sleep(0.3)  # the subscriptions acknowledged
            path = Path(tmp) / "stream.pickle"
            path.write_bytes(pickle.dumps(messages))
            expected = len(messages) - facts["other_depot"]
            del messages
            ctx = mp.get_context("spawn")
            done = ctx.Event()
            publisher = ctx.Process(target=_publish, args=(url, str(path), done), daemon=True)
            publisher.start()
            ingest = service.ingest
            deadline = time.monotonic() + 600
            while ingest.received < expected or not done.is_set():
                app.processEvents()
                time.sleep(0.01)
                if not done.is_set() and not publisher.is_alive():
                    raise RuntimeError(
                        f"the publisher process ended (exit code {publisher.exitcode}) after "
                        f"{ingest.received:,} of {expected:,} messages"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ingest.received:,} of {expected:,} messages arrived")
            time.sleep(1.0)  # another depot's messages would have arrived by now
            while ingest.pending():
                app.processEvents()
                time.sleep(0.01)
            service.feed.drain()
            writer = service.writer
            flushed = writer.flush(120)
            result.rejected = {k: v for k, v in ingest.reject_counts().items() if v}
            result.not_received = facts["other_depot"] - (ingest.received - expected)
            result.resets = sum(n for n, _ in service.seq_resets().values())
            result.writer_stalls = writer.stalls + (0 if flushed else 1)
            result.rows_refused = sum(writer.refused.values())
            state = service.feed.state
            # what got through: marker fixes, replays applied twice, spoofed stops changed
            applied = [f for trail in state.trails.values() for f in trail]
            marked = sum(1 for f in applied if f.accuracy_m == MARK)
            keys = Counter((f.vehicle_id, f.seq, f.ts) for f in applied)
            spoofed = sum(
                1
                for stop in facts["spoofed_stops"]
                if stop in state.stops and state.stops[stop].status != "planned"
            )
            with store.read_session() as s:
                crumbs = s.scalar(select(func.count()).select_from(BreadcrumbRow))
                forged_events = s.scalar(
                    select(func.count())
                    .select_from(StopEventRow)
                    .where(StopEventRow.event_id.like("atk-%"))
                )
                stored_events = set(s.scalars(select(StopEventRow.event_id)))
                marked_positions = s.scalar(
                    select(func.count())
                    .select_from(VehiclePositionRow)
                    .where(VehiclePositionRow.accuracy_m == MARK)
                )
            result.wrongly_applied = {
                "forged fixes on the map": marked,
                "forged positions stored": marked_positions,
                "replays applied twice": sum(n - 1 for n in keys.values()),
                "spoofed stops changed": spoofed + ("x" in state.stops),
                "forged events stored": forged_events,
            }
            real_applied = len(keys) - marked
            missing_events = sum(1 for e in facts["real_event_ids"] if e not in stored_events)
            result.real_refused = facts["real_fixes"] - real_applied + missing_events
            result.applied, result.stored = len(keys), crumbs
            if crumbs != len(keys):  # every applied fix stored once
                result.writer_stalls += 1
            if not flushed:
                log.error(
                    "the writer did not finish within 120 s: %d rows pending", writer.pending()
                )
        finally:
            if publisher is not None:
                publisher.join(10)
                if publisher.is_alive():
                    publisher.kill()
            service.stop()
            store.close()
            if broker is not None:
                broker.stop()
    result.seconds = time.monotonic() - started
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    outcome = drill_hostile_traffic(args.vehicles, args.seconds, args.seed)
    print(outcome.table())
    print(f"\n{'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.0f} s")
