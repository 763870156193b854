"""Release control on the live day: the gate kept current, the dock and the drivers heard,
the routes sent.

``ReleaseService`` is the window's side of :class:`~app.release.desk.ReleaseDesk`. It
recomputes the gate when the plan or the loading changes (a day of 200 routes takes a few
milliseconds), takes dock scans and drivers' ``route_ack`` from the broker (decoded and
counted like telemetry, on paho's thread; applied on the main thread's timer), moves routes
on the road and to completed from telemetry, and after every change of the plan reconciles
what the drivers were sent: a background thread publishes each released route whose
content changed (a move, a re-plan, an undo, another desk) with its new version, retained.
A person's release, recall, loading mark or override is one command written through the
desk (version-checked, in the change log); the routes it changed are shown at once with
their new status and version.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.day.state import ChangeSource, DayChanges, DayState
from app.release.desk import ROLES, ReleaseDesk, ReleaseOutcome, applier_writer
from app.release.gate import DayGate, VehicleSeen
from app.secrets import redact_url
from app.store import Store
from app.store import repository_release as rel
from engine.model import DayInput, Plan, RouteStatus
from engine.release import RoutePunctuality, WavePunctuality

log = logging.getLogger(__name__)

DRAIN_MS = 500
FOLLOW_EVERY = 4  # drains between looking at departures and completions
#: A large day's gate is checked again at most this often for what the live day changes
#: by itself (stop results, departures, messages sent); a person's command or a dock's
#: scan is checked at once. Checked at every such change, a live day at 2,000 vans kept a
#: thread checking 2,000 routes back to back (1-3 s each), taking the CPU from the window.
LARGE_GATE_EVERY_S = 15.0


@dataclass(frozen=True)
class DriverView:
    """What the drivers were sent and confirmed, per route."""

    sent: Mapping[str, rel.Publication] = field(default_factory=dict)
    acks: Mapping[str, rel.Ack] = field(default_factory=dict)


class ReleaseService(QObject):
    """The depot's release control on the live day (see the module)."""

    sig_changed = Signal()  # the gate, loading, what was sent or confirmed changed
    sig_status = Signal(str)
    sig_error = Signal(str, str)  # title, text
    _published = Signal(object)  # from the publishing thread: (sent count, error)

    def __init__(self, settings, store: Store, state: DayState, clock, live,
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.settings, self.store, self.state = settings, store, state
        self.clock, self.live = clock, live
        self.desk: ReleaseDesk | None = None
        self.dispatch: Any = None
        self.gate: DayGate | None = None
        self.drivers = DriverView()
        self.punctuality: tuple[list[RoutePunctuality], dict[str, WavePunctuality]] = ([], {})
        self.channel: Any = None
        self.inbox: Any = None
        self.channel_state = "off"
        self.last_error = ""
        self.last_sent: tuple[int, datetime] | None = None  # messages, when (the last batch)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drains = 0
        self._refused_seen = 0  # refused dock and driver messages shown so far
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self._on_timer)
        self._refresh_timer = QTimer(self)  # coalesce a burst of plan changes
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(150)
        self._refresh_timer.timeout.connect(self.refresh)
        self._published.connect(self._on_published)
        self.jobs: Any = None  # a JobRunner: large days' gates are checked off the main thread
        self._check_again = False  # the plan changed while a large day's gate was checked
        self._urgent = False  # a person's change waits for the large day's next check
        self._gate_started = -math.inf  # when the last large day's check started (monotonic)
        self._gate_timer = QTimer(self)  # the next check of a large day, when it is due
        self._gate_timer.setSingleShot(True)
        self._gate_timer.timeout.connect(self.refresh)
        state.sig_changed.connect(self._on_state_changed)

    # -- opening the day ---------------------------------------------------------------
    def open_day(self, depot_id: str, day: date, dispatch, travel, actor: str, role: str,
                 submit: Callable[[Any], None] | None = None) -> None:  # fmt: skip
        """Release control over ``depot_id``'s ``day``, writing as ``actor``; with
        ``submit`` (a shared database) each command goes to the local copy and the outbox."""
        self.dispatch = dispatch
        if role not in ROLES:  # e.g. no role known yet: the lesser one
            log.warning("release control: role %r is not one of %s; working as a dispatcher",
                        role, ROLES)  # fmt: skip
            role = "dispatcher"
        self.desk = ReleaseDesk(self.store, depot_id=depot_id, day=day, actor=actor,
                                role=role, travel=travel,
                                writer=applier_writer(self.store, submit))  # fmt: skip
        self._timer.start()
        self.refresh()

    def connect_broker(self, url: str, protocol: str, client_id: str = "") -> None:
        """Send routes to and hear docks and drivers on the live broker (``url``), as
        ``client_id`` (the live client's; its release channel adds ``-release``). Called
        again with another broker (a followed desk's demo taken over), it moves there."""
        if self.desk is None:
            return
        if self.channel is not None:
            if self.channel.config.url == url:
                return
            log.info("release: moving to the live broker %s", redact_url(url))
            self.channel.stop()
            self.channel = None
        from app.release.channel import ReleaseChannel
        from app.release.dock_events import ReleaseDecoder, ReleaseInbox
        from app.telemetry.mqtt_client import MqttConfig

        depot_id = self.desk.depot_id
        self.inbox = ReleaseInbox(ReleaseDecoder(self._known(), clock=self.clock))
        overrides = {"client_id": client_id} if client_id else {}
        config = MqttConfig.from_settings(self.settings, url=url, protocol=protocol,
                                          depot_id=depot_id, **overrides)  # fmt: skip
        self.channel = ReleaseChannel(config, depot_id, self.inbox.on_message,
                                      on_state=self._on_channel_state)  # fmt: skip
        self.channel.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._publish_loop, name="release-publish",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        self._kick.set()

    def stop(self) -> None:
        """Stop publishing and listening (idempotent)."""
        self._timer.stop()
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.channel is not None:
            self.channel.stop()
            self.channel = None

    # -- reads -------------------------------------------------------------------------
    @property
    def role(self) -> str:
        return self.desk.role if self.desk else (self.settings.role or "dispatcher")

    @property
    def timezone(self) -> str:
        index = self.state.index
        return index.depot.timezone if index is not None else "UTC"

    def refresh(self, *, urgent: bool = False) -> None:
        """Check the gate again on the plan as shown, with what the store knows of loading,
        overrides, what was sent and confirmed, and when routes left.

        A large day (each route on its own legs, see ``ReleaseDesk.gate_context``) is
        checked by a background job when the service has ``jobs``: the board shows the last
        gate meanwhile. One check runs at a time: changes made while it runs are checked
        once it is done (a live day at 2,000 vans changes its plan several times a second:
        a check started at each change, each superseding the last, kept several whole-fleet
        checks running and queued at once, and none lived long enough to be shown). What
        the live day changes by itself is checked at most every ``LARGE_GATE_EVERY_S``;
        ``urgent`` (a person's command, a dock's scan) as soon as no check runs."""
        desk, plan, index = self.desk, self.state.plan, self.state.index
        if desk is None or plan is None or index is None:
            return
        day = index.day
        if self.jobs is not None and desk.is_large(day):
            from app.jobs.runner import JobKind

            self._urgent = self._urgent or urgent
            if self.jobs.is_running(JobKind.RELEASE_GATE):
                self._check_again = True
                return
            wait_s = self._gate_started + LARGE_GATE_EVERY_S - time.monotonic()
            if wait_s > 0 and not self._urgent:
                if not self._gate_timer.isActive():
                    self._gate_timer.start(math.ceil(wait_s * 1000))
                return
            self._gate_timer.stop()
            self._urgent = self._check_again = False
            self._gate_started = time.monotonic()
            now, seen = self.clock.now(), self._seen()
            self.jobs.submit(JobKind.RELEASE_GATE,
                             lambda _cancel, _progress: self._check(desk, day, plan, now, seen))  # fmt: skip
            if index.depot.docks:  # the dock dialog's and the slot plan's context, ahead
                self.jobs.submit(JobKind.RELEASE_WARM,
                                 lambda _cancel, _progress: self.warm(plan, day))  # fmt: skip
            return
        self._apply(self._check(desk, day, plan, self.clock.now(), self._seen()))

    def _check(self, desk: ReleaseDesk, day: Any, plan: Plan, now: datetime,
               seen: Mapping[str, VehicleSeen]) -> tuple:  # fmt: skip
        """The gate, what drivers were sent and confirmed, and punctuality (any thread)."""
        try:
            gate = desk.gate(now=now, day=day, plan=plan, seen=seen)
            ids = [r.id for r in plan.routes]
            with self.store.read_session() as s:
                drivers = DriverView(desk.last_sent(s, ids), rel.last_acks(s, ids))
            return gate, drivers, desk.punctuality(), ""
        except Exception as exc:  # the board says so; the day goes on
            log.exception("release gate failed")
            return None, None, None, f"{type(exc).__name__}: {exc}"

    def use_jobs(self, jobs: Any) -> None:
        """Check large days' gates on ``jobs`` (a ``JobRunner``) instead of the main thread."""
        self.jobs = jobs
        jobs.sig_job_done.connect(self._on_job_done)
        jobs.sig_job_finished.connect(self._on_job_finished)

    def _on_job_finished(self, kind: Any) -> None:
        from app.jobs.runner import JobKind

        if kind is JobKind.RELEASE_GATE and self._check_again:
            self.refresh()  # what changed while the last check ran

    def _on_job_done(self, kind: Any, result: object) -> None:
        from app.jobs.runner import JobKind

        if kind is JobKind.RELEASE_GATE and isinstance(result, tuple):
            self._apply(result)

    def _apply(self, result: tuple) -> None:
        gate, drivers, punctuality, error = result
        if error:
            self.last_error = error
        else:
            self.gate, self.drivers, self.punctuality = gate, drivers, punctuality
        if self.inbox is not None:
            known, before = self._known(), self.inbox.decoder.known.sent_version
            sent = dict(known.sent_version)
            for rid, version in before.items():  # sent, its record still being written
                sent[rid] = max(sent.get(rid, 0), version)
            self.inbox.decoder.known = replace(known, sent_version=sent)
        self.sig_changed.emit()

    def _seen(self) -> dict[str, VehicleSeen]:
        broken: set[str] = set()
        service = self.live.service
        if service is not None:
            flags = service.feed.state.flags
            broken = {vid for vid, f in flags.items() if f.broken_down_at is not None}
        return {vid: VehicleSeen(fix.lat, fix.lon, vid in broken)
                for vid, fix in self.live.positions().items()}  # fmt: skip

    def _known(self):
        from app.release.dock_events import Known

        index, plan = self.state.index, self.state.plan
        depot_id = self.desk.depot_id if self.desk else ""
        if index is None or plan is None:
            return Known(depot_id)
        return Known(
            depot_id, frozenset(k.id for k in index.depot.docks),
            {r.id: frozenset(r.order_ids) for r in plan.routes},
            {r.id: r.vehicle_id for r in plan.routes},
            {rid: p.version for rid, p in self.drivers.sent.items()},
        )  # fmt: skip

    def warm(self, plan: Plan, day: DayInput, now: datetime | None = None) -> None:
        """Build the whole day's context the dock dialog and the slot plan use (a depot
        with docks), so the first of them opens as fast as the next: a worker thread's
        job on a large day, whose gate builds no such context (a smaller day's gate
        builds it as it checks)."""
        desk, index = self.desk, self.state.index
        if desk is not None and index is not None and index.depot.docks:
            desk.context(day, plan)

    def scarcity(self) -> list:
        """The day's slot plan with every number of docks from all down to one: slot
        delays, late departures and stop lateness (``engine.release.ScarcityRow``)."""
        from app.release import planning

        desk, plan, index = self.desk, self.state.plan, self.state.index
        if desk is None or plan is None or index is None or not index.depot.docks:
            return []
        return planning.dock_scarcity(desk.context(index.day, plan), plan, index.day)

    # -- a person's commands -----------------------------------------------------------
    def release(self, route_ids: Iterable[str], *, wave: str = "") -> ReleaseOutcome:
        """Release the green routes among ``route_ids`` (the others refused, with why)."""
        desk = self._desk()
        ids = list(route_ids)
        outcome = self._run(lambda: desk.release(ids, now=self.clock.now(), gate=self.gate,
                                                 wave=wave))  # fmt: skip
        if outcome is not None:
            self._applied(outcome.released)
            self._say_outcome(outcome)
        return outcome or ReleaseOutcome()

    def release_wave(self, wave: str) -> ReleaseOutcome:
        """Release every green route of ``wave`` not released yet."""
        gate = self.gate
        ids = (
            [g.route_id for g in gate.wave_routes(wave) if not g.status.is_released] if gate else []
        )
        if not ids:
            outcome = ReleaseOutcome(refused={wave: f"no route of wave {wave} left to release"})
            self._say_outcome(outcome)
            return outcome
        return self.release(ids, wave=wave)

    def release_green(self) -> ReleaseOutcome:
        """Release every green route not released yet (of every wave)."""
        ids = self.gate.releasable() if self.gate is not None else []
        if not ids:
            self.sig_status.emit("No green route waits for release")
            return ReleaseOutcome()
        return self.release(ids)

    def recall(self, route_id: str, reason: str = "") -> dict[str, int]:
        """Take a released route back: its driver gets a withdrawal."""
        desk = self._desk()
        after = self._run(lambda: desk.recall([route_id], now=self.clock.now(), reason=reason))
        if after:
            self._applied(after)
            self.sig_status.emit(f"Release of {route_id} recalled: its driver is told")
        return after or {}

    def mark_loaded(self, route_id: str, reason: str = "") -> dict[str, int]:
        """A person checked the load of ``route_id``: it counts as loaded."""
        desk = self._desk()
        after = self._run(lambda: desk.mark_loaded(route_id, now=self.clock.now(),
                                                   reason=reason))  # fmt: skip
        if after is not None:
            self._applied(after)
            self.sig_status.emit(f"{route_id} marked loaded by {desk.actor}")
        return after or {}

    def override(self, route_id: str, check: str, reason: str) -> dict[str, int]:
        """A supervisor lets a red check of ``route_id`` pass, with the written reason."""
        desk = self._desk()
        after = self._run(lambda: desk.override(route_id, check, reason, now=self.clock.now()))
        if after is not None:
            self._applied(after)
            self.sig_status.emit(f"{check} on {route_id} overridden by {desk.actor}: {reason}")
        return after or {}

    def _desk(self) -> ReleaseDesk:
        if self.desk is None:
            raise RuntimeError("no day is open")
        return self.desk

    def _run(self, command):
        """Run a command; a refusal (role, version, transition) is said, never raised."""
        from app.release.desk import NotAllowed
        from app.store import StaleVersionError
        from app.store.repository_release import TransitionRefused

        try:
            return command()
        except NotAllowed as exc:
            self.sig_error.emit("Not allowed", str(exc))
        except StaleVersionError as exc:
            self.sig_error.emit(
                "Changed meanwhile",
                f"{exc}: another desk changed the route since it was shown; the board shows "
                "it as stored now",
            )  # fmt: skip
            self._reload_statuses(None, urgent=True)
        except (TransitionRefused, ValueError, KeyError) as exc:
            self.sig_error.emit("Refused", str(exc).strip("'\""))
        return None

    def _say_outcome(self, outcome: ReleaseOutcome) -> None:
        parts = []
        if outcome.released:
            parts.append(f"Released {len(outcome.released)} route(s): "
                         + ", ".join(sorted(outcome.released)))  # fmt: skip
        if outcome.refused:
            parts.append("not released: " + "; ".join(f"{rid} ({why})" for rid, why
                                                      in sorted(outcome.refused.items())))  # fmt: skip
        if parts:
            self.sig_status.emit(" — ".join(parts))
        if outcome.refused and not outcome.released:
            self.sig_error.emit("Nothing released", "\n".join(
                f"{rid}: {why}" for rid, why in sorted(outcome.refused.items())))  # fmt: skip

    def _applied(self, after: Mapping[str, int]) -> None:
        """Show the routes a command changed with their stored status and version."""
        self._reload_statuses(set(after), urgent=True)

    def _reload_statuses(self, ids: set[str] | None, *, urgent: bool = False) -> None:
        plan = self.state.plan
        if plan is None:
            return
        wanted = ids if ids is not None else {r.id for r in plan.routes}
        stored: dict[str, rel.RouteState] = {}
        with self.store.read_session() as s:
            for rid in wanted:
                try:
                    stored[rid] = rel.route_state(s, rid)
                except (KeyError, LookupError, ValueError):
                    continue
        shown = {r.id: r for r in plan.routes}
        changed = {rid for rid, st in stored.items()
                   if rid in shown and shown[rid].status is not st.status}  # fmt: skip
        routes = tuple(replace(r, status=stored[r.id].status) if r.id in changed else r
                       for r in plan.routes)  # fmt: skip
        new_plan = replace(plan, routes=routes) if changed else plan
        versions = None
        known = self.dispatch.versions_of(plan) if self.dispatch is not None else None
        if known is not None:  # else the plan is checked by content: no half version book
            versions = dict(known)
            versions.update({rid: st.version for rid, st in stored.items()})
        if self.dispatch is not None and (changed or versions):
            self.dispatch.show_plan(new_plan, DayChanges(routes=frozenset(changed),
                                                         source=ChangeSource.PLAN),
                                    versions=versions)  # fmt: skip
        self.refresh(urgent=urgent)
        self._kick.set()

    # -- the dock, the drivers and the fleet (main thread, on the timer) ---------------
    def _on_timer(self) -> None:
        desk = self.desk
        if desk is None:
            return
        changed: list[str] = []
        urgent = False  # a dock's scan or a driver's confirmation: the board shows it now
        if self.inbox is not None:
            items = self.inbox.drain()
            scans = [i for i in items if isinstance(i, rel.Scan)]
            acks = [i for i in items if isinstance(i, rel.Ack)]
            try:
                changed += desk.take_scans(scans)
                new_acks = desk.take_acks(acks)
            except Exception:  # a store hiccup: the messages are lost to this pass only
                log.exception("release: dock events or acknowledgements not stored")
                new_acks = []
            urgent = bool(scans or new_acks)
            refused = sum(self.inbox.reject_counts().values())
            shown, self._refused_seen = self._refused_seen, refused
            if (scans or new_acks or refused != shown) and not changed:
                self.refresh(urgent=True)  # a refused message alone shows in the board's count too
        self._drains += 1
        plan = self.state.plan
        if plan is not None and self._drains % FOLLOW_EVERY == 0:
            seen = {vid: (fix.lat, fix.lon, fix.ts) for vid, fix in self.live.positions().items()}
            done = {s.order_id: (s.actual_departure or s.actual_arrival or self.clock.now())
                    .timestamp() for r in plan.routes for s in r.stops
                    if s.status.is_done}  # fmt: skip
            try:
                changed += desk.follow_fleet(plan, seen, done)
            except Exception:
                log.exception("release: departures not followed")
        if changed:
            self._reload_statuses(set(changed), urgent=urgent)

    def _on_state_changed(self, changes: DayChanges) -> None:
        if changes.source == ChangeSource.TELEMETRY and not changes.everything:
            return
        self._refresh_timer.start()
        self._kick.set()  # a released route that changed is sent again

    # -- publishing (its own thread: the broker's acknowledgements are waited for) ------
    def _on_channel_state(self, state: str) -> None:
        self.channel_state = state
        if state == "connected":
            self._kick.set()

    def _publish_loop(self) -> None:
        from app.release.channel import NotConnected, Outgoing

        while not self._stop.is_set():
            self._kick.wait(5.0)
            self._kick.clear()
            if self._stop.is_set():
                return
            desk, channel = self.desk, self.channel
            if desk is None or channel is None or not channel.connected:
                continue
            try:
                due = desk.due_messages(now=self.clock.now())
                if not due:
                    continue
                self._expect_acks(due)  # a device may confirm before the broker's PUBACK
                items = [Outgoing(m.message.topic, m.message.payload) for m in due]
                items += [Outgoing(t, p, retain=False) for m in due for t, p in m.owntracks]
                done = channel.publish(items)
                if done == len(items):
                    desk.record_sent(due)
                    self._published.emit((len(due), ""))
                else:
                    self._published.emit((0, f"the broker confirmed {done} of {len(items)} "
                                              "messages: sent again shortly"))  # fmt: skip
                    self._kick.set()
                    self._stop.wait(1.0)
            except NotConnected as exc:
                self._published.emit((0, str(exc)))
            except Exception as exc:
                log.exception("release: routes not sent")
                self._published.emit((0, f"{type(exc).__name__}: {exc}"))
                self._stop.wait(2.0)

    def _expect_acks(self, due) -> None:
        inbox = self.inbox
        if inbox is None:
            return
        known = inbox.decoder.known
        sent = dict(known.sent_version)
        for item in due:
            m = item.message
            sent[m.route_id] = max(sent.get(m.route_id, 0), m.version)
        inbox.decoder.known = replace(known, sent_version=sent)  # swapped whole

    def _on_published(self, result: tuple[int, str]) -> None:
        count, error = result
        if error:
            self.last_error = error
            self.sig_status.emit(f"Routes not sent yet: {error}")
        elif count:  # said on the board, not in the status bar (it comes after every change)
            self.last_error = ""
            self.last_sent = (count, self.clock.now())
        self.refresh()


def route_plan_status(plan: Plan | None) -> dict[str, RouteStatus]:
    """route id -> status, for panes that colour by lifecycle."""
    return {r.id: r.status for r in plan.routes} if plan is not None else {}
