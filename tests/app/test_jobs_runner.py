"""Background jobs: a cancelled job's result never arrives, whatever it returns."""

from __future__ import annotations

import threading

from app.jobs.runner import JobKind, JobRunner


def test_a_cancelled_job_that_still_returns_a_result_is_dropped(qtbot):
    """A re-plan cancelled with Esc ends at once for the window, and its late result (the
    solver's best so far) is not delivered."""
    runner = JobRunner()
    release = threading.Event()
    done: list = []
    finished: list[str] = []
    runner.sig_job_done.connect(lambda kind, result: done.append((kind, result)))
    runner.sig_job_finished.connect(finished.append)

    def job(cancel, report):
        release.wait(5)
        return "proposal"  # returns something although it was told to stop

    runner.submit(JobKind.REPLAN, job)
    assert runner.cancel(JobKind.REPLAN)
    assert finished == [JobKind.REPLAN] and not runner.is_running(JobKind.REPLAN)
    release.set()
    assert runner.wait(5000)
    qtbot.wait(50)
    assert done == []
    assert not runner.cancel(JobKind.REPLAN)  # nothing left to cancel


def test_an_uncancelled_job_delivers(qtbot):
    """The ordinary case still works: the result comes back on the main thread."""
    runner = JobRunner()
    with qtbot.waitSignal(runner.sig_job_done, timeout=5000) as blocker:
        runner.submit(JobKind.PLAN, lambda cancel, report: 42)
    assert blocker.args == ["plan", 42]


def test_a_held_runner_holds_its_jobs_at_their_next_check(qtbot):
    """While the window holds the jobs (a replay jump), a job that checks its cancel
    switch waits there and takes no CPU; it goes on once the hold ends, and a job cancelled
    meanwhile stops at once. The main thread's own check never waits."""
    import time

    runner = JobRunner()
    steps: list[float] = []
    stop = threading.Event()

    def job(cancel, report):
        while not cancel.is_set() and not stop.is_set():
            steps.append(time.monotonic())
            time.sleep(0.005)
        return len(steps)

    runner.submit(JobKind.GEOMETRY, job)
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=5000)
    runner.hold(0.6)
    assert runner.held
    qtbot.wait(100)  # the job reaches its next check and waits there
    held_at = len(steps)
    started = time.monotonic()
    main_check = runner._latest[JobKind.GEOMETRY].cancel_event.is_set()
    assert not main_check and time.monotonic() - started < 0.05  # the main thread: no wait
    qtbot.wait(300)
    assert len(steps) == held_at  # no step while held
    qtbot.waitUntil(lambda: not runner.held, timeout=5000)
    qtbot.waitUntil(lambda: len(steps) > held_at + 3, timeout=5000)  # on again
    runner.hold(10)
    qtbot.wait(100)
    with qtbot.waitSignal(runner.sig_job_finished, timeout=5000):
        assert runner.cancel(JobKind.GEOMETRY)
    stop.set()
    assert runner.wait(1000)  # cancelled while held: it ended well before the hold did


def test_a_cancelled_job_ends_at_its_next_checkpoint_deep_inside(qtbot):
    """Code deep inside a job that holds no cancel switch (a day's KPIs, route by route)
    stops at its next checkpoint once the job is cancelled: the pool is idle at once, and
    neither a result nor a failure is reported."""
    from app.jobs.cancel import checkpoint

    runner = JobRunner()
    started, pieces = threading.Event(), []
    done: list = []
    runner.sig_job_done.connect(lambda kind, result: done.append(result))
    runner.sig_job_failed.connect(lambda kind, message: done.append(message))

    def work_of_minutes():
        for piece in range(6000):
            checkpoint()
            pieces.append(piece)
            started.set()
            threading.Event().wait(0.01)
        return "KPIs"

    runner.submit(JobKind.KPIS, lambda cancel, report: work_of_minutes())
    assert started.wait(5)
    runner.cancel_all()
    assert runner.wait(2000)
    qtbot.wait(50)
    assert len(pieces) < 6000 and done == []
    checkpoint()  # outside a job: nothing to end


def test_a_job_superseded_before_it_starts_never_runs_unless_it_writes(qtbot):
    """With every pool thread busy, a re-plan asked for twice waits; the first, superseded
    before a thread took it up, never starts (it would hold its copy of the fleet and take
    a thread for a result nobody wants); the second delivers. An import superseded alike
    still runs: it writes to the store, which the person asked for."""
    runner = JobRunner(max_threads=1)
    release = threading.Event()
    ran: list[str] = []
    done: list = []
    runner.sig_job_done.connect(lambda kind, result: done.append((kind, result)))

    def busy(cancel, report):
        release.wait(5)
        return "tiles"

    def job(name):
        def fn(cancel, report):
            ran.append(name)
            return name

        return fn

    runner.submit(JobKind.BASEMAP, busy)
    runner.submit(JobKind.REPLAN, job("first re-plan"))
    runner.submit(JobKind.REPLAN, job("second re-plan"))
    runner.submit(JobKind.IMPORT, job("first import"))
    runner.submit(JobKind.IMPORT, job("second import"))
    release.set()
    qtbot.waitUntil(lambda: runner.is_idle(), timeout=5000)
    assert runner.wait(5000)
    assert ran == ["second re-plan", "first import", "second import"]
    assert sorted(done) == [("basemap", "tiles"), ("import", "second import"),
                            ("replan", "second re-plan")]  # fmt: skip
