"""Where a long background job may stop: ``checkpoint()`` between pieces of its work.

A job run by ``app.jobs.runner.JobRunner`` has a cancel switch; code deep inside it (the
KPIs of a recorded day, read and worked out route by route) does not hold that switch,
so the runner lends it to the job's thread, and ``checkpoint()`` ends the job there with
``JobCancelled`` once it is set (a window closing cancels its jobs: the process then
ends in seconds, not after the job's minutes). Outside a job, or not cancelled, a
checkpoint does nothing. No Qt here: the same code runs from the command line.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_local = threading.local()


class JobCancelled(Exception):
    """The job running on this thread was cancelled: it ends where it was asked to check."""


def checkpoint() -> None:
    """End the job running on this thread (``JobCancelled``) if it was cancelled."""
    switch = getattr(_local, "switch", None)
    if switch is not None and switch.is_set():
        raise JobCancelled


@contextlib.contextmanager
def cancel_switch(switch: threading.Event) -> Iterator[None]:
    """While inside, ``checkpoint()`` on this thread looks at ``switch``."""
    before = getattr(_local, "switch", None)
    _local.switch = switch
    try:
        yield
    finally:
        _local.switch = before
