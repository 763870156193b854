"""``python -m app.simulator``: drive a fleet over MQTT in simulated time.

Publishes 1 Hz fixes per vehicle (``--rate``) and stop events for the vehicles of a plan:
the stored plan of the day (``--database``), else a quick plan over the demo day, else a
synthetic fleet (``--vehicles N``, also the load generator). ``--speedup K`` runs K
simulated seconds per real second. Message timestamps are simulated time: a workstation
watching a sped-up or past day must use the same clock.

The fleet is a digital twin: it follows the routes the workstation sends (the retained
``fleet/{depot}/vehicle/{id}/route`` messages) from where each vehicle is, on the
streets, with the day's trouble from ``--seed`` and ``--trouble``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

log = logging.getLogger("app.simulator")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app.simulator", description=__doc__.split("\n")[0])
    p.add_argument(
        "--broker",
        default=None,
        help="mqtt://[user@]host:port or mqtts:// (default: DISPATCH_MQTT_URL); the password "
        "from DISPATCH_MQTT_PASSWORD or the system keyring, the user also from "
        "DISPATCH_MQTT_USERNAME",
    )
    p.add_argument(
        "--ca-file",
        default=None,
        help="CA bundle of an mqtts:// broker (default: DISPATCH_MQTT_CA_FILE, else the system's)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same day)")
    p.add_argument("--speedup", type=float, default=10.0, help="simulated seconds per real second")
    p.add_argument("--format", choices=("native", "owntracks", "traccar"), default="native")
    p.add_argument(
        "--vehicles", type=int, default=0, help="synthetic fleet of N vehicles (load generator)"
    )
    p.add_argument("--rate", type=float, default=1.0, help="fixes per vehicle per simulated second")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    p.add_argument(
        "--day", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
    )
    p.add_argument(
        "--start", default="plan", help="'plan' (first route start), 'now', or HH:MM (depot time)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many real seconds (0: end of day)",
    )
    p.add_argument(
        "--database", default=None, help="take the stored plan of the day from this database URL"
    )
    p.add_argument("--depot", default=None, help="depot id (default: the only/first one)")
    p.add_argument(
        "--no-incidents", action="store_true", help="no breakdown, silence, stray or delay"
    )
    p.add_argument(
        "--trouble",
        default="default",
        help="the day's trouble, e.g. 'breakdown=2,delay=1,silent=0,detour=1,late_orders=6' "
        "(kinds not named keep their default; 'none' for a calm day)",
    )
    p.add_argument(
        "--streets",
        choices=("auto", "yes", "no"),
        default="auto",
        help="drive along the demo city's streets (auto: when the depot lies in it, "
        "and not for a synthetic fleet of more than 300 vehicles)",
    )
    p.add_argument(
        "--no-follow",
        action="store_true",
        help="ignore the route messages the workstation sends (drive the first plan)",
    )
    return p


def load_day_and_plan(args):
    """(DayInput, Plan): stored, else the demo day with a sweep plan, else synthetic."""
    from app.simulator.plan import sweep_plan, synthetic_day

    if args.vehicles:
        day = synthetic_day(args.vehicles, seed=args.seed, day=args.day)
        if args.start == "now":  # the load generator's fleet sets off right now
            now = datetime.now(UTC)
            day = synthetic_day(args.vehicles, seed=args.seed, day=now.date())
            return day, sweep_plan(day, start=now.time().replace(microsecond=0))
        return day, sweep_plan(day)
    if args.database:
        from app.store import open_store
        from app.store.repository import list_depots, load_day
        from app.store.repository_plan import load_plan

        store = open_store(args.database)
        try:
            with store.read_session() as s:
                depots = list_depots(s)
                if not depots:
                    raise SystemExit(f"no depot in the database {args.database}")
                depot_id = args.depot or depots[0].id
                the_day = args.day or datetime.now(ZoneInfo(depots[0].timezone)).date()
                day, plan = load_day(s, depot_id, the_day), load_plan(s, depot_id, the_day)
        finally:
            store.close()
        if plan is None:
            raise SystemExit(
                f"no plan stored for depot {depot_id} on {the_day}: plan the day first"
            )
        return day, plan
    try:
        from app.simulator.demo_day import generate_demo_day

        day = generate_demo_day(args.seed, args.day)
    except (FileNotFoundError, OSError) as exc:
        log.warning("demo day unavailable (%s); using a synthetic fleet of 25", exc)
        day = synthetic_day(25, seed=args.seed, day=args.day)
    return day, sweep_plan(day, depot_id=args.depot)


def start_time(args, sim, day) -> float:
    if args.start == "plan":
        return sim.start_time
    if args.start == "now":
        return time.time()
    try:
        hh, mm = (int(x) for x in args.start.split(":"))
        tz = ZoneInfo(day.depots[0].timezone)
        return datetime.combine(
            day.day, datetime.min.time().replace(hour=hh, minute=mm), tz
        ).timestamp()
    except ValueError:
        raise SystemExit(f"--start {args.start!r}: expected 'plan', 'now' or HH:MM") from None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    from app.secrets import get_secret
    from app.settings import Settings
    from app.simulator.core import Simulator
    from app.simulator.publisher import Publisher

    settings = Settings.from_env()
    url = args.broker or settings.mqtt_url
    if not url:
        print("no broker: give --broker mqtt://host:port or set DISPATCH_MQTT_URL", file=sys.stderr)
        return 2
    if args.speedup <= 0 or args.rate <= 0:
        print("--speedup and --rate must be positive", file=sys.stderr)
        return 2
    from app.simulator.trouble import TroubleSpec

    try:
        trouble = TroubleSpec.parse(args.trouble)
    except ValueError as exc:
        print(f"--trouble: {exc}", file=sys.stderr)
        return 2
    day, plan = load_day_and_plan(args)
    streets = {"yes": True, "no": False}.get(args.streets)
    sim = Simulator(
        plan,
        day,
        seed=args.seed,
        fmt=args.format,
        rate_hz=args.rate,
        incidents=not args.no_incidents,
        trouble=trouble,
        streets=streets,
    )
    t_sim = start_time(args, sim, day)
    sim.skip_to(t_sim)
    print(
        f"{len(sim.vehicles)} vehicles of plan {plan.id}, depot {plan.depot_id}; incidents: "
        f"delayed={sim.incidents.delayed} breakdown={sim.incidents.breakdown} "
        f"silent={sim.incidents.silent} stray={sim.incidents.stray}"
    )
    for key, vid in sim.device_map().items():
        print(f"device {key} -> {vid}")
    try:
        pub = Publisher(
            url,
            qos=args.qos,
            username=settings.mqtt_username,
            password=settings.mqtt_password or get_secret("mqtt_password") or "",
            ca_file=args.ca_file or settings.mqtt_ca_file,
        ).connect()
    except (ConnectionError, ValueError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    from app.simulator.routes_in import ack_message

    routes = None if args.no_follow else _follow_routes(pub, plan.depot_id)
    real0, sim0 = time.monotonic(), t_sim
    last_report = real0
    try:
        while True:
            now = time.monotonic()
            t_sim = sim0 + (now - real0) * args.speedup
            while routes:
                sent = routes.popleft()
                sim.add_orders(sent.orders)
                if sim.set_route(sent.vehicle_id, sent.order_ids, sent.version,
                                 route_id=sent.route_id, at=t_sim, start=sent.start):  # fmt: skip
                    log.info("%s follows route %s v%d", sent.vehicle_id, sent.route_id,
                             sent.version)  # fmt: skip
                    pub.publish(*ack_message(plan.depot_id, sent, t_sim))
            for topic, payload in sim.step(t_sim):
                pub.publish(topic, payload)
            if now - last_report >= 5:
                print(f"sim {datetime.fromtimestamp(t_sim, UTC):%H:%M:%S}Z  sent {pub.sent}")
                last_report = now
            if t_sim > sim.end_time + 120 or (args.duration and now - real0 >= args.duration):
                break
            time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
    except KeyboardInterrupt:
        pass
    finally:
        pub.close()
    print(f"done: {pub.sent} messages")
    return 0


def _follow_routes(pub, depot_id: str):
    """Subscribe to the routes sent to the vehicles; parsed ones queue up for the loop."""
    from collections import deque

    from app.simulator.routes_in import RouteMessageError, parse_route_message, route_topic

    queue: deque = deque()

    def on_message(_client, _userdata, message) -> None:
        try:
            queue.append(parse_route_message(message.topic, message.payload))
        except RouteMessageError as exc:
            log.warning("route message on %s refused: %s", message.topic, exc)

    topic = route_topic(depot_id)
    pub.client.on_message = on_message
    pub.client.on_connect = lambda client, *_args: client.subscribe(topic, qos=1)  # reconnects
    pub.client.subscribe(topic, qos=1)
    time.sleep(0.5)  # the retained routes arrive right after the subscription: take them first
    return queue


if __name__ == "__main__":
    raise SystemExit(main())
