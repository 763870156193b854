"""One helper for the workstation's finite background jobs (:class:`JobKind`).

A job gets frozen data, runs on a QThreadPool, and its result or error comes back on the
main thread through signals. Jobs of one kind supersede each other: each submit bumps a
generation number and a result from an older generation is dropped, so a slow re-plan can
never overwrite a newer one. Every job receives a ``threading.Event`` it should poll (or
hand to the engine as its stop criterion) so it can be cancelled; code deep inside a job
calls ``app.jobs.cancel.checkpoint()`` between pieces of work instead. What each kind returns,
and who takes it, is in ``app.jobs.day``.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from app.jobs.cancel import JobCancelled, cancel_switch

log = logging.getLogger(__name__)


class JobKind(enum.StrEnum):
    """The kinds of background job; a new job of a kind supersedes the running one."""

    PLAN = "plan"  # plan every order of the day
    REPLAN = "replan"  # re-plan the fleet or some routes from where the vehicles are
    GEOMETRY = "geometry"  # follow each route along the streets, for the map
    ETA_TRAVEL = "eta-travel"  # street travel times between the day's points, for live ETAs
    PREPARE = "prepare"  # the engine context of the first drag preview
    BASEMAP = "basemap"  # the overview tiles of the day's area
    INSERTION = "insertion"  # the routes an urgent order could go on, ranked
    ORDER_PREVIEW = "order-preview"  # what changing or cancelling an order does to its route
    IMPORT = "import"  # an import of files into the store (File ▸ Import…)
    RULES = "rules"  # what the standing rules' firings do (app.rules)
    KPIS = "kpis"  # the day's KPIs read from the store (app.kpis)
    REPORT = "report"  # the day report's PDF and CSV
    LEARN = "learn"  # service times and travel factors learned from the stored days
    RELEASE_GATE = "release-gate"  # the release gate of a large day (app.release.service)
    RELEASE_WARM = "release-warm"  # a large day's context for the dock dialog and slot plan


#: Kinds whose job only works something out for the window (no store, file or message
#: is written): one cancelled or superseded before a pool thread took it up never starts.
#: A queued job holds what it was given (a copy of the fleet, say) and, started, takes a
#: thread from the newer one for a result nobody wants. The others (an import, a report,
#: learning, the rules' actions) run even so, as they always did.
WORKS_OUT_ONLY = frozenset({
    JobKind.PLAN, JobKind.REPLAN, JobKind.GEOMETRY, JobKind.ETA_TRAVEL, JobKind.PREPARE,
    JobKind.BASEMAP, JobKind.INSERTION, JobKind.ORDER_PREVIEW, JobKind.KPIS,
    JobKind.RELEASE_GATE, JobKind.RELEASE_WARM,
})  # fmt: skip

#: The longest a job waits at one check of its cancel switch while the runner is held: a
#: window that keeps holding (a replay playing) slows its jobs down, never stops them.
HOLD_AT_MOST_S = 2.0


class _CancelSwitch(threading.Event):
    """A job's cancel switch. Checked off the main thread while its runner is held (see
    ``JobRunner.hold``), the check waits until the hold ends, the job is cancelled, or
    ``HOLD_AT_MOST_S`` passed: a job that polls its switch yields the CPU at that point."""

    def __init__(self, running: threading.Event | None = None) -> None:
        super().__init__()
        self._running = running

    def is_set(self) -> bool:
        running = self._running
        if (
            running is not None
            and not running.is_set()
            and threading.current_thread() is not threading.main_thread()
        ):
            deadline = time.monotonic() + HOLD_AT_MOST_S
            while not super().is_set() and time.monotonic() < deadline:
                if running.wait(0.05):
                    break
        return super().is_set()


@dataclass
class JobHandle:
    """What the caller keeps of a submitted job: its kind, generation and cancel switch."""

    kind: JobKind
    generation: int
    cancel_event: threading.Event = field(default_factory=_CancelSwitch)

    def cancel(self) -> None:
        self.cancel_event.set()


class _Relay(QObject):
    """Lives on the main thread; queued signals carry results back to it."""

    sig_done = Signal(object, object)  # handle, result
    sig_failed = Signal(object, str)  # handle, message
    sig_progress = Signal(object, object)  # handle, payload


class _Runnable(QRunnable):
    def __init__(self, relay: _Relay, handle: JobHandle, fn: Callable[..., Any]):
        super().__init__()
        self._relay, self._handle = relay, handle
        self._fn: Callable[..., Any] | None = fn

    def run(self) -> None:  # runs on a pool thread
        handle, fn = self._handle, self._fn
        self._fn = None  # the closure (and what it holds) goes with the job, not the runnable
        if handle.kind in WORKS_OUT_ONLY and threading.Event.is_set(handle.cancel_event):
            log.debug("job %s #%d superseded before it started", handle.kind, handle.generation)
            self._emit(self._relay.sig_done, None)
            return
        try:
            with cancel_switch(self._handle.cancel_event):
                result = fn(handle.cancel_event, self._progress)  # type: ignore[misc]
        except JobCancelled:  # stopped at a checkpoint: nobody wants its result
            log.info("job %s cancelled", self._handle.kind)
            self._emit(self._relay.sig_done, None)
        except Exception as exc:  # every worker reports its errors to one place
            log.error("job %s failed:\n%s", self._handle.kind, traceback.format_exc())
            self._emit(self._relay.sig_failed, f"{type(exc).__name__}: {exc}")
        else:
            self._emit(self._relay.sig_done, result)

    def _progress(self, payload: Any) -> None:
        self._emit(self._relay.sig_progress, payload)

    def _emit(self, signal: Any, payload: Any) -> None:
        """Hand ``payload`` to the main thread; if the window (and with it the relay) was
        closed meanwhile, there is nobody to tell: say so in the log, never raise out of
        the pool thread (Qt would only print that it caught an exception)."""
        try:
            signal.emit(self._handle, payload)
        except RuntimeError as exc:  # the relay was deleted: the desk is shutting down
            log.info("job %s finished after its desk closed: %s", self._handle.kind, exc)


class JobRunner(QObject):
    """Runs ``fn(cancel_event, report_progress) -> result`` off the main thread."""

    sig_job_done = Signal(object, object)  # JobKind, result (latest generation only)
    sig_job_failed = Signal(object, str)  # JobKind, message
    sig_job_progress = Signal(object, object)  # JobKind, payload
    sig_job_started = Signal(object)  # JobKind
    sig_job_finished = Signal(object)  # JobKind: done, failed or superseded (busy stops)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._relay = _Relay(self)
        self._relay.sig_done.connect(self._on_done)
        self._relay.sig_failed.connect(self._on_failed)
        self._relay.sig_progress.connect(self._on_progress)
        self._latest: dict[JobKind, JobHandle] = {}
        self._running = threading.Event()  # cleared while held
        self._running.set()
        self._release = QTimer(self)
        self._release.setSingleShot(True)
        self._release.timeout.connect(self._running.set)

    def hold(self, seconds: float) -> None:
        """Hold the jobs for ``seconds`` from now (each call starts the time again): a job
        waits at its next check of its cancel switch, so it does not take the CPU from
        the main thread (a replay jump). A job that never checks runs on."""
        self._running.clear()
        self._release.start(max(0, round(seconds * 1000)))

    @property
    def held(self) -> bool:
        return not self._running.is_set()

    def submit(self, kind: JobKind, fn: Callable[..., Any]) -> JobHandle:
        """Start a job; an unfinished job of the same kind is cancelled and its result dropped."""
        previous = self._latest.get(kind)
        if previous is not None:
            previous.cancel()
        handle = JobHandle(kind, (previous.generation + 1) if previous else 1,
                           _CancelSwitch(self._running))  # fmt: skip
        self._latest[kind] = handle
        self.sig_job_started.emit(kind)
        self._pool.start(_Runnable(self._relay, handle, fn))
        return handle

    def cancel(self, kind: JobKind) -> bool:
        """Cancel the running job of ``kind``: it is told to stop, and whatever it still
        returns is dropped (a cancelled re-plan never turns into a proposal). True if one
        was running."""
        handle = self._latest.pop(kind, None)
        if handle is None:
            return False
        handle.cancel()
        self.sig_job_finished.emit(kind)
        return True

    def is_running(self, kind: JobKind) -> bool:
        return kind in self._latest

    def is_idle(self) -> bool:
        """No job of any kind is running."""
        return not self._latest

    def cancel_all(self) -> None:
        for handle in self._latest.values():
            handle.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (for shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    def _current(self, handle: JobHandle) -> bool:
        return self._latest.get(handle.kind) is handle

    @Slot(object, object)
    def _on_done(self, handle: JobHandle, result: object) -> None:
        if not self._current(handle):
            return  # superseded: a newer job of this kind owns the result
        del self._latest[handle.kind]
        self.sig_job_finished.emit(handle.kind)
        if handle.cancel_event.is_set():
            return  # cancelled while finishing: its result is not wanted any more
        self.sig_job_done.emit(handle.kind, result)

    @Slot(object, str)
    def _on_failed(self, handle: JobHandle, message: str) -> None:
        if not self._current(handle):
            return
        del self._latest[handle.kind]
        self.sig_job_finished.emit(handle.kind)
        self.sig_job_failed.emit(handle.kind, message)

    @Slot(object, object)
    def _on_progress(self, handle: JobHandle, payload: object) -> None:
        if self._current(handle):
            self.sig_job_progress.emit(handle.kind, payload)
