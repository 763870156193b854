"""Run a module of this project in a child process (``python -m MODULE ARGS``), so what it
imports and leaves in the heap never enters a long-running window: the street file's first
read (``app.roads.save_arrays``), the map page's rendering (``widgets.map_page``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: The project's folder (``app/``, ``engine/``, ``widgets/``), put on the child's path.
ROOT = str(Path(__file__).resolve().parents[1])


def run_apart(
    module: str, args: Sequence[str], *, timeout_s: float
) -> tuple[subprocess.CompletedProcess[str] | None, str]:
    """(the finished child, "") — whatever its exit code — or (None, why it could not run:
    no interpreter, no process, past ``timeout_s``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    try:
        done = subprocess.run([sys.executable, "-m", module, *args], env=env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    return done, ""


def why_failed(done: subprocess.CompletedProcess[str]) -> str:
    """The last line the child wrote to stderr, else its exit code."""
    return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
