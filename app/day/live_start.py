"""Starting the live day: telemetry over the plan and, on a simulated depot, its fleet.

On a shared database one desk drives a depot's demo fleet and the others follow it: the
desk that simulates advertises its broker and simulated clock in its heartbeat
(``app.tower.desk``); a desk that would simulate the same depot and finds another desk
online advertising one connects to that broker and runs on that clock instead. The
heartbeat carries the broker's address, never its password: that stays in a file only the
desk's system user reads on its machine (the broker listens on 127.0.0.1 alone), where the
desks that can reach it find it (``app.telemetry.broker.keep_secret``). When that
broker cannot be reached it says so and shows no live vehicles: it simulates on its own
only once no desk of the depot online advertises a fleet (never two simulated fleets
while both desks are online).

A following desk keeps watching the desk it follows (:func:`check_leader`): once its
broker connection is lost and no desk of the depot online advertises a fleet any more (the
leader closed, or its heartbeat went stale), it starts the depot's demo itself, carrying
on from the stored day as on a restart, and advertises it; the earliest of several
followers does, the others follow it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from PySide6.QtCore import QObject, QTimer

from app.day.clock import DayClock
from app.day.opening import is_demo_depot
from app.day.state import DayState
from app.settings import Settings
from app.telemetry.broker import forget_secret, keep_secret, with_secret
from app.telemetry.session import LiveSession
from engine.model import Plan

if TYPE_CHECKING:  # the simulator loads only when a simulated fleet drives
    from app.simulator.driver import SimulatorDriver
    from app.store.tower import DemoClock, DemoDesk
    from engine.roads import StreetNetwork

log = logging.getLogger(__name__)


class DemoPeers(Protocol):
    """The other desks of the depot on a shared database (``app.tower.desk.DeskHeartbeat``)."""

    @property
    def shared(self) -> bool: ...

    def other_desks(self) -> list[DemoDesk]: ...

    def advertise(self, demo: DemoClock | None) -> None: ...


@dataclass(frozen=True)
class DemoChoice:
    """Who drives the demo fleet this desk shows: this desk (``simulate``), or the desk it
    follows (``follow``; ``reachable``: its broker answered); ``note`` for the status bar."""

    simulate: bool
    follow: DemoDesk | None = None
    reachable: bool = False
    note: str = ""
    broker_url: str = ""  # the followed broker's whole URL (its password from this machine)


def broker_reachable(url: str, timeout_s: float = 2.0) -> str:
    """Empty when something listens at the broker URL's host and port, else why not."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 1883
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return ""
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def choose_demo(peers: DemoPeers) -> DemoChoice:
    """Simulate this depot's demo fleet here, or follow the desk that already does."""
    try:
        others = peers.other_desks()
    except Exception as exc:  # the shared database cannot be read: a desk of its own now
        log.warning("demo: the other desks could not be read (%s); simulating here", exc)
        return DemoChoice(True)
    leader = next((d for d in others if d.demo is not None), None)
    if leader is None or leader.demo is None:
        return DemoChoice(True)
    problem = broker_reachable(leader.demo.broker_url)
    whole = with_secret(leader.demo.broker_url) if not problem else None
    if not problem and whole is None:  # the password stays with its desk's OS user
        problem = ("its password is kept on its desk's machine for that desk's system user, "
                   "and this desk runs as another")  # fmt: skip
    if not problem and whole is not None:
        note = f"Demo fleet: following {leader.name}'s simulated day (one fleet for the depot)"
        log.info("demo: following the demo fleet of %s (its broker and clock, %gx)",
                 leader.name, leader.demo.speedup)  # fmt: skip
        return DemoChoice(False, leader, True, note, whole)
    log.warning("demo: the broker of %s's demo fleet cannot be reached (%s)", leader.name, problem)
    # Its desk is online (a fresh heartbeat), so its fleet runs: never a second one. This
    # desk simulates on its own only once no desk of the depot advertises one (above).
    note = (f"Demo fleet of {leader.name} cannot be reached ({problem}): no live vehicles "
            "here; run both desks on one machine, or set DISPATCH_MQTT_URL on both")  # fmt: skip
    return DemoChoice(False, leader, False, note)


#: A following desk checks this often whether the desk it follows is still there.
WATCH_LEADER_MS = 10_000


@dataclass(frozen=True)
class LeaderCheck:
    """What a following desk does about a lost broker: ``wait`` (its desk is online, or
    an earlier desk takes over first), ``follow`` ``desk`` (another desk drives the demo
    now), or ``take_over`` (no desk online drives it)."""

    action: str
    desk: DemoDesk | None = None
    why: str = ""


def check_leader(others: list[DemoDesk], leader: str, me: str, missed: int) -> LeaderCheck:
    """A following desk ``me`` lost the broker of the desk ``leader`` it follows; ``others``
    are the depot's desks online now (fresh heartbeats, those advertising a demo first),
    ``missed`` how many checks in a row (this one included) found none advertising one.

    While any desk online advertises a fleet nothing is taken over (never two fleets of
    the same vans): the leader itself (its broker only briefly unreachable) is waited for,
    another desk (which took over) is followed. With none, the desks online that advertise
    nothing take over in the order of their names: the earliest at once, the next one
    check later (two checks per place), so racing followers start one fleet, not two."""
    advertising = [d for d in others if d.demo is not None]
    if advertising:
        first = advertising[0]
        if first.name == leader:
            return LeaderCheck("wait", first, f"{leader}'s desk is online (fresh heartbeat)")
        return LeaderCheck("follow", first, f"{first.name} drives the demo fleet now")
    names = sorted({me, *(d.name for d in others)})
    place = names.index(me)
    if missed > 2 * place:
        return LeaderCheck("take_over", None, f"no desk online drives {leader}'s demo fleet")
    earlier = ", ".join(names[:place])
    return LeaderCheck("wait", None, f"{earlier} takes over first")


def follower_client_id(settings: Settings, user: str) -> str:
    """The MQTT client id of a desk on another desk's broker: two people may share one
    workstation (and its name), and one client id per session on a broker."""
    return f"dispatch-desk-{settings.workstation_id}-{user}"


def simulates(settings: Settings, depot_id: str) -> bool:
    """The built-in simulated fleet drives this depot (no broker configured)."""
    chosen = {d.strip() for d in settings.simulate_depots.split(",")}
    return (
        settings.simulate
        and not settings.mqtt_url
        and (is_demo_depot(settings, depot_id) or depot_id in chosen)
    )


def start_live(
    settings: Settings, live: LiveSession, state: DayState, clock: DayClock, plan: Plan, *,
    on_broker: Callable[..., None], status: Callable[[str], None], network=None,
    parent: QObject | None = None, peers: DemoPeers | None = None, user: str = "",
    on_choice: Callable[[DemoChoice], None] | None = None,
) -> SimulatorDriver | None:  # fmt: skip
    """Telemetry, ETAs and exceptions over ``plan`` (only watched when already running);
    the demo's simulated fleet too, which is returned. ``on_broker(url, protocol,
    client_id)`` once the broker is connected; a failure is logged and told to ``status``
    (the day still works without live data). With ``peers`` (a shared database) the demo
    fleet of another desk of the depot is followed rather than simulated twice."""
    if live.service is not None:
        live.watch(plan)
        return None
    index = state.index
    demo = index is not None and simulates(settings, index.depot.id)
    choice = DemoChoice(demo)
    if demo and peers is not None and peers.shared:
        choice = choose_demo(peers)
    if on_choice is not None:
        on_choice(choice)
    followed = choice.follow.demo if choice.follow is not None else None
    resumed = None
    if followed is not None:
        start = followed.now(datetime.now(UTC)).timestamp()
        clock.simulate(start, followed.speedup)
    elif choice.simulate and index is not None:
        from app.simulator.driver import demo_day_start

        # A restart carries on where the stored day left off, never back at its start.
        start = demo_day_start(index.day.day, index.depot.timezone)
        left_off = live.stored_until()
        resumed = left_off if left_off is not None and left_off > start else None
        clock.simulate(resumed or start, settings.demo_speedup)
    if choice.note:
        status(choice.note)
    try:
        if followed is not None and choice.reachable:
            # No session kept there: the broker would queue the fleet's fixes for a
            # follower that closed (it never comes back to this run's broker).
            live.start(plan, broker_url=choice.broker_url, protocol="3.1.1",
                       client_id=follower_client_id(settings, user), keep_session=False)  # fmt: skip
        else:
            live.start(plan)
        service = live.service
        if service is not None and service.client is not None:
            config = service.client.config
            on_broker(service.url, config.protocol, config.client_id)
        if choice.simulate and index is not None and live.service is not None:
            from app.simulator.driver import drive_demo_fleet

            fleet = drive_demo_fleet(
                live.service, plan, index.day, seed=settings.demo_seed,
                speedup=settings.demo_speedup, state=state, parent=parent, network=network,
                resumed=resumed,
            )  # fmt: skip
            if peers is not None and peers.shared and clock.start is not None:
                from app.store.tower import DemoClock

                peers.advertise(DemoClock(  # its password stays on this machine
                    keep_secret(live.service.url), datetime.fromtimestamp(clock.start, UTC),
                    datetime.fromtimestamp(clock.wall_start, UTC), clock.speedup,
                ))  # fmt: skip
            return fleet
    except Exception as exc:
        log.exception("live telemetry could not start")
        status(f"Live telemetry is off: {exc}")
    return None


class LiveStart(QObject):
    """Starts the live day once a plan is shown (:func:`start_live`), keeps the simulated
    fleet it drives, and holds steps back until the window has painted the day."""

    def __init__(
        self, settings: Settings, live: LiveSession, state: DayState, clock: DayClock, *,
        on_broker: Callable[..., None], status: Callable[[str], None],
        peers: DemoPeers | None = None, user: str = "", parent: QObject | None = None,
    ):  # fmt: skip
        """``peers``: the other desks on a shared database, one of which may drive the demo
        fleet (``user``: who works at this desk)."""
        super().__init__(parent)
        self.settings, self.live, self.state, self.clock = settings, live, state, clock
        self._on_broker, self._status = on_broker, status
        self.peers, self.user = peers, user
        self.follows = ""  # the desk whose demo fleet this desk shows ("" when none)
        self.follow_problem = ""  # why that desk's broker cannot be reached
        self.taken_over_from = ""  # the desk whose demo fleet this desk took over, once
        self.network: StreetNetwork | None = None  # the open depot's, for the simulated vans
        self.fleet: SimulatorDriver | None = None  # the demo depot's simulated vans
        self._held: list[Callable[[], None]] = []
        self._stopped = False
        self._missed = 0  # checks in a row that found no desk driving the followed demo
        self._waiting = ""  # why the last check waited (logged once per reason)
        self._watch = QTimer(self)  # while following: is the followed desk still there?
        self._watch.setInterval(WATCH_LEADER_MS)
        self._watch.timeout.connect(self.check_leader)

    def start(self, plan: Plan) -> None:
        """Telemetry, ETAs and exceptions over the plan; the demo's simulated fleet too."""
        fleet = start_live(
            self.settings, self.live, self.state, self.clock, plan, on_broker=self._on_broker,
            status=self._status, network=self.network, parent=self.parent(), peers=self.peers,
            user=self.user, on_choice=self._on_choice,
        )  # fmt: skip
        self.fleet = fleet or self.fleet
        if self.follows and not self._stopped:
            self._missed = 0
            self._watch.start()

    def _on_choice(self, choice: DemoChoice) -> None:
        if choice.follow is not None:
            self.follows = choice.follow.name
            self.follow_problem = "" if choice.reachable else choice.note

    @property
    def desk_name(self) -> str:
        """This desk as the other desks name it (``user@workstation``)."""
        return f"{self.user}@{self.settings.workstation_id}"

    def check_leader(self) -> None:
        """While following another desk's demo fleet: once its broker is lost and no desk
        of the depot online drives the demo any more, take it over (:func:`check_leader`);
        follow the desk that did instead; wait while the followed desk is online."""
        if self._stopped or not self.follows or self.peers is None:
            self._watch.stop()
            return
        if not self.follow_problem and self.live.connection == "connected":
            self._missed, self._waiting = 0, ""  # its broker answers: its desk drives it
            return
        try:
            others = self.peers.other_desks()
        except Exception as exc:  # the shared database cannot be read: never take over blind
            log.warning("demo: the desks of the depot could not be read (%s)", exc)
            return
        advertised = any(d.demo is not None for d in others)
        self._missed = 0 if advertised else self._missed + 1
        check = check_leader(others, self.follows, self.desk_name, self._missed)
        if check.action == "wait":
            if check.why != self._waiting:  # once per reason, not every check
                log.info("demo: the broker of %s is not connected; waiting: %s",
                         self.follows, check.why)  # fmt: skip
            self._waiting = check.why
            return
        self._waiting = ""
        plan = self.state.plan
        if plan is None:
            return
        gone, self._missed = self.follows, 0
        self._watch.stop()
        if check.action == "follow":
            log.warning("demo: %s; following it instead of %s", check.why, gone)
        else:
            log.warning("demo: %s closed (its broker is lost and %s); taking over its demo "
                        "fleet here", gone, check.why)  # fmt: skip
        self.live.stop()  # off the lost broker
        self.follows = self.follow_problem = ""
        self.start(plan)  # chooses again: a desk that took over is followed, else simulated
        if self.fleet is not None:  # no desk drives it after all: this one does now
            self.taken_over_from = gone
            log.info("demo: took over the demo fleet of %s; its vans carry on from the "
                     "stored day", gone)  # fmt: skip
            self._status(f"Demo fleet: taken over from {gone} (it closed)")

    def hold(self, steps: list[Callable[[], None]]) -> None:
        """Run ``steps`` at :meth:`release` (once), not now."""
        self._held = steps

    @property
    def pending(self) -> bool:
        """Steps are held back until :meth:`release`."""
        return bool(self._held)

    def release(self) -> None:
        """Run the held steps (once; not after :meth:`stop`)."""
        steps, self._held = self._held, []
        if not self._stopped:
            for step in steps:
                step()

    def stop(self) -> None:
        """The simulated fleet stops; held steps never run."""
        self._stopped = True
        self._watch.stop()
        if self.fleet is not None:
            self.fleet.stop()
            service = self.live.service
            if service is not None and service.broker is not None:  # its advertised broker
                forget_secret(service.url)
