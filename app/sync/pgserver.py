"""A throwaway PostgreSQL server for fault drills: initdb, start, kill, restart, remove.

Used by ``main.py reliability`` and the sync tests. It runs the installed PostgreSQL
binaries on a free port of 127.0.0.1 (never 5432) with its data and socket in a temporary
directory; as root it runs them as the ``postgres`` user (``initdb`` refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RESERVED_PORTS = {5432, 1883}


def postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's versioned dirs."""
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")]
    found = [d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


def free_port() -> int:
    """A free TCP port of 127.0.0.1 that is not one of the well-known ones."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


class ThrowawayPostgres:
    """One private server; ``url`` is its ``postgres`` database as an SQLAlchemy URL."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or postgres_bindir()
        if found is None:
            raise RuntimeError(
                "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in "
                "/usr/lib/postgresql/*/bin: install the postgresql package"
            )
        self.bindir = found
        self.root = Path(tempfile.mkdtemp(prefix="dispatch-drill-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self.prefix, *args]
        done = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            log_file = self.root / "server.log"
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}{tail}")
        return done

    def start(self) -> str:
        """initdb (first time) and start; returns ``url``."""
        if not self.data.exists():
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
        if not self.port:
            self.port = free_port()
        self._pg_ctl_start()
        return self.url

    def _pg_ctl_start(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # left by a SIGKILL: its PID is dead (or a zombie)
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().split()[0])
                _reap(pid)
            pid_file.unlink(missing_ok=True)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends exit as soon as they notice)."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)

    def stop_immediate(self) -> None:
        """``pg_ctl stop -m immediate``: every backend dies at once, no clean shutdown."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                  "-w", "stop", check=False)  # fmt: skip

    def restart(self) -> None:
        """Start again on the same port and data (crash recovery runs first)."""
        self._pg_ctl_start()

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop_immediate()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.remove()


def _reap(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until ``pid`` is gone (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        if _is_zombie(pid):
            return
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def create_database(server_url: str, name: str) -> None:
    """CREATE DATABASE ``name`` on the server at ``server_url``."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
