"""``python main.py release``: the release gate and releases, for scripts and headless depots.

    python main.py release check [--wave W] [--json]   the gate per route (and per wave)
    python main.py release --wave W                    release the wave's green routes
    python main.py release --route R [--route R2]      release these routes (if green)
    python main.py release slots [--scarcity]          plan dock slots; what scarce docks cost

A release is stored (version-checked, in the change log) and each released route is sent
to its vehicle as a retained message on the broker (``DISPATCH_MQTT_URL``). Exit code 0
when everything asked for was done, 1 when something was refused (the reasons are
printed) or not sent, 2 when the database or the broker could not be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a clock time (HH:MM)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("check", "slots"),
                        help="check: print the gate; slots: plan dock slots; none: release")  # fmt: skip
    parser.add_argument("--wave", metavar="W", help="only this wave (check) / release this wave")
    parser.add_argument("--route", metavar="R", action="append", default=[],
                        help="release this route (repeat for more)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--scarcity", action="store_true",
                        help="slots: also show departures and lateness with fewer docks")  # fmt: skip
    parser.add_argument("--depot", metavar="ID", help="the depot (default: the only one)")
    parser.add_argument("--day", type=_day, metavar="YYYY-MM-DD",
                        help="the day (default: today in the depot's time zone)")  # fmt: skip
    parser.add_argument("--at", type=_clock, metavar="HH:MM",
                        help="check as of this clock time on the day (default: now)")  # fmt: skip
    parser.add_argument("--database", metavar="URL",
                        help="SQLAlchemy URL of the database (default: DISPATCH_DATABASE_URL, "
                        "else the SQLite file in the user data directory)")  # fmt: skip


def _fail(message: str, code: int = 2) -> int:
    print(f"release: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from app.cli.who import identity
    from app.importer.persist import safe_url
    from app.settings import Settings
    from app.store import open_store, repository

    settings = Settings.from_env()
    url = args.database or settings.effective_database_url
    if args.action is None and not (args.wave or args.route):
        return _fail("say what to release: --wave W or --route R (or `release check`)")
    try:
        store = open_store(url, workstation=settings.workstation_id)
    except Exception as exc:  # any driver error: say which database and why
        return _fail(f"cannot open the database {safe_url(url)}: {exc}")
    try:
        with store.read_session() as s:
            depots = repository.list_depots(s)
        depot = next((d for d in depots if d.id == (args.depot or settings.depot_id)), None)
        if depot is None and len(depots) == 1 and not args.depot:
            depot = depots[0]
        if depot is None:
            known = ", ".join(d.id for d in depots) or "none"
            return _fail(f"which depot? --depot ID (known: {known})")
        zone = ZoneInfo(depot.timezone)
        day = args.day or datetime.now(zone).date()
        now = datetime.combine(day, args.at, zone) if args.at else datetime.now(zone)
        desk = _desk(store, settings, identity(settings, url), depot, day)
        if args.action == "check":
            return _check(desk, now, args)
        if args.action == "slots":
            return _slots(desk, now, args)
        return _release(desk, settings, now, args)
    finally:
        store.close()


def _desk(store, settings, who, depot, day):
    from app.release.desk import ReleaseDesk
    from app.travel.choose import travel_model_for

    return ReleaseDesk(store, depot_id=depot.id, day=day,
                       actor=f"{who.user}@{settings.workstation_id}", role=who.role,
                       travel=travel_model_for(depot))  # fmt: skip


def _check(desk, now: datetime, args: argparse.Namespace) -> int:
    from app.release.gate import gate_json

    day, plan, _versions = desk.load()
    if plan is None:
        return _fail(f"no plan for {desk.depot_id} on {desk.day}: plan the day first", 1)
    gate = desk.gate(now=now, day=day, plan=plan)
    if args.wave and args.wave not in gate.waves:
        return _fail(f"no wave {args.wave!r} (waves: {', '.join(gate.waves) or 'none'})", 1)
    if args.json:
        print(json.dumps(gate_json(gate, wave=args.wave), indent=2))
        return 0
    print(render_gate(gate, desk.depot_id, day.depots[0].timezone, wave=args.wave))
    return 0


def render_gate(gate, depot_id: str, timezone: str, *, wave: str | None = None) -> str:
    """The gate as text: per wave its status and go count, per route go / no-go and, for a
    no-go, each red check with what, why and how to fix."""
    zone = ZoneInfo(timezone)
    clock = lambda t: t.astimezone(zone).strftime("%H:%M") if t else "--:--"  # noqa: E731
    lines = [f"Release gate of {depot_id} on {gate.at.astimezone(zone):%Y-%m-%d}, "
             f"as of {clock(gate.at)} ({timezone})"]  # fmt: skip
    for wid, w in gate.waves.items():
        if wave is not None and wid != wave:
            continue
        routes = gate.wave_routes(wid)
        head = (f"Wave {wid or '(none)'}: {w.status.value}, {len(w.green)} of {len(w.routes)} "
                f"routes go")  # fmt: skip
        if w.cutoff is not None:
            head += (f" (cut-off {clock(w.cutoff)}, leaves {clock(w.depart_from)}-"
                     f"{clock(w.depart_to)})")  # fmt: skip
        if w.late:
            head += " — LATE: its departure window has closed"
        lines += ["", head]
        for g in sorted(routes, key=lambda g: (gate.departures.get(g.route_id) or gate.at,
                                               g.route_id)):  # fmt: skip
            state = "released" if g.status.is_released else ("GO" if g.go else "NO-GO")
            leaves = clock(gate.departures.get(g.route_id))
            over = f" ({len(g.overridden)} overridden)" if g.overridden else ""
            lines.append(f"  {g.route_id:<28} {g.vehicle_id:<6} leaves {leaves}  "
                         f"{g.status.label:<11} {state}{over}")  # fmt: skip
            if g.status.is_released:
                continue
            for c in g.red:
                lines.append(f"      ✗ {c.name}: {c.what}")
                lines.append(f"        why: {c.why}")
                lines.append(f"        fix: {c.fix}")
            for c in g.overridden:
                lines.append(f"      ! {c.name} overridden by {c.override.actor}: "
                             f"{c.override.reason}")  # fmt: skip
    return "\n".join(lines)


def _release(desk, settings, now: datetime, args: argparse.Namespace) -> int:
    from app.release.desk import NotAllowed

    try:
        if args.wave:
            outcome = desk.release_wave(args.wave, now=now)
        else:
            outcome = desk.release(args.route, now=now)
    except NotAllowed as exc:
        return _fail(str(exc), 1)
    except Exception as exc:  # a stale version: someone else changed or released it
        return _fail(f"nothing was released: {exc}", 1)
    for rid in sorted(outcome.released):
        print(f"released {rid} (v{outcome.released[rid]})")
    for rid, why in sorted(outcome.refused.items()):
        print(f"not released {rid}: {why}")
    sent, problem = publish_due(desk, settings, now)
    for line in sent:
        print(line)
    if problem:
        print(f"release: {problem}", file=sys.stderr)
        return 2
    return 1 if outcome.refused or not outcome.released else 0


def publish_due(desk, settings, now: datetime) -> tuple[list[str], str]:
    """Send every due route message to the broker; (lines saying what was sent, problem)."""
    from app.release.channel import NotConnected, Outgoing, ReleaseChannel
    from app.telemetry.mqtt_client import MqttConfig

    due = desk.due_messages(now=now)
    if not due:
        return [], ""
    if not settings.mqtt_url:
        return [], (f"{len(due)} route(s) released but not sent: no broker configured "
                    "(set DISPATCH_MQTT_URL; the window sends them when it runs)")  # fmt: skip
    try:
        channel = ReleaseChannel(MqttConfig.from_settings(settings), desk.depot_id).start()
    except ValueError as exc:
        return [], f"broker: {exc}"
    try:
        if not channel.wait_connected(10.0):
            return [], (f"cannot reach the broker at {channel.config.host}:"
                        f"{channel.config.port}: {len(due)} route(s) released but not sent")  # fmt: skip
        lines, done = [], []
        for item in due:
            out = [Outgoing(item.message.topic, item.message.payload)]
            out += [Outgoing(topic, payload) for topic, payload in item.owntracks]
            try:
                if channel.publish(out) == len(out):
                    done.append(item)
                    lines.append(f"sent {item.message.route_id} v{item.message.version} to "
                                 f"{item.message.topic} ({item.message.stops} stops)")  # fmt: skip
            except NotConnected as exc:
                return lines, str(exc)
        desk.record_sent(done)
        missing = len(due) - len(done)
        return lines, (f"{missing} route message(s) not confirmed by the broker" if missing
                       else "")  # fmt: skip
    finally:
        channel.stop()


def _slots(desk, now: datetime, args: argparse.Namespace) -> int:
    from app.release import planning
    from app.store import StaleVersionError, repository

    result = desk.slot_plan(now=now)
    if result is None:
        return _fail(f"no plan for {desk.depot_id} on {desk.day}: plan the day first", 1)
    plan, timed = result
    day, stored, versions = desk.load()
    try:
        with desk.store.session() as s:
            repository.save_plan(s, plan, actor=desk.actor, base_versions=versions)
    except StaleVersionError as exc:
        return _fail(f"the plan changed meanwhile, nothing saved: {exc}", 1)
    zone = ZoneInfo(day.depots[0].timezone)
    clock = lambda t: t.astimezone(zone).strftime("%H:%M")  # noqa: E731
    sp = timed.slot_plan
    for dock in day.depots[0].docks:
        slots = sp.on_dock(dock.id)
        text = ", ".join(f"{s.route_id} {clock(s.start)}-{clock(s.end)}" for s in slots)
        print(f"{dock.name or dock.id}: {text or '(free)'}")
    for wid, w in sp.waves.items():
        late = f", {len(w.late_departures)} after the window" if w.late_departures else ""
        print(f"wave {wid}: {len(w.routes)} routes leave {clock(w.first_departure)}-"
              f"{clock(w.last_departure)}{late}")  # fmt: skip
    print(
        f"lateness at stops: {timed.lateness_before_s / 60:.0f} min before slots, "
        f"{timed.lateness_after_s / 60:.0f} min after ({timed.late_stops_after} late stops)"
    )
    for rid, why in sp.unplaced.items():
        print(f"no slot for {rid}: {why}")
    if args.scarcity:
        print("\ndocks  total delay  worst delay  late departures  stop lateness  late stops")
        for row in planning.dock_scarcity(desk.context(day, stored), stored, day):
            print(f"{row.docks:>5}  {row.total_delay_s / 60:>8.0f} min  "
                  f"{row.max_delay_s / 60:>8.0f} min  {row.late_departures:>15}  "
                  f"{row.lateness_s / 60:>9.0f} min  {row.late_stops:>10}")  # fmt: skip
    return 1 if sp.unplaced else 0
