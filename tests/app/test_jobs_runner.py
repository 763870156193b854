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
