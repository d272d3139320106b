"""PostgreSQL for tests: a database of our own on the shared server, or a cluster of our own.

* ``temp_database()``: a fresh database on the local server (``EDGEWATCH_TEST_POSTGRES``,
  default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth), dropped after
  (``WITH (FORCE)``: a coordinator process that still holds connections cannot keep it).
* ``PgCluster``: ``initdb`` + ``pg_ctl`` from Debian's binaries on a free port, in a
  directory of the test's: for tests that stop, restart or kill PostgreSQL, which must
  never be done to the shared server. PostgreSQL refuses to run as root, so as root the
  cluster runs as the ``postgres`` system user.

A missing server or binary fails the test with what to install; it never skips.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.procs import free_port

SHARED_URL = os.environ.get(
    "EDGEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_BIN = Path(os.environ.get("EDGEWATCH_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresMissing(RuntimeError):
    """No server to talk to, or no binaries to start one with."""


def url_for(base: str, database: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{database}"


@contextlib.contextmanager
def temp_database(base: str = SHARED_URL, prefix: str = "ew_test") -> Iterator[str]:
    """A new, empty database on ``base``'s server; its URL. Dropped on exit."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresMissing(
            f"no PostgreSQL at {base} ({exc}); the store tests need one (trust auth): "
            "apt-get install postgresql, or set EDGEWATCH_TEST_POSTGRES"
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url_for(base, name)
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres() -> list[str]:
    """The prefix that runs a PostgreSQL binary as a user it accepts."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PgCluster:
    """A private PostgreSQL cluster: ``start()``, ``stop()``, ``kill()``, ``restart()``."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        if not (PG_BIN / "initdb").exists():
            raise PostgresMissing(
                f"{PG_BIN}/initdb not found: apt-get install postgresql-15 "
                "(or set EDGEWATCH_TEST_PG_BIN)"
            )
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.sockets = workdir / "sock"
        self.log = workdir / "postgres.log"
        self.port = port or free_port()
        self._initdb()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*_as_postgres(), *argv], check=check, capture_output=True, timeout=120
        )

    def _initdb(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.workdir, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            # The test's tmp dirs above must be traversable by that user.
            for parent in self.workdir.parents:
                if str(parent).startswith(("/tmp", "/var/tmp")) and parent != Path("/tmp"):
                    parent.chmod(parent.stat().st_mode | 0o711)
            self.log.touch()
            os.chown(self.log, user.pw_uid, user.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "shared_buffers = 32MB\nmax_connections = 40\nfsync = on\n"
            )

    def start(self, timeout: float = 30.0) -> PgCluster:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash: recovery replays the WAL at the next start)."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        # Its backends notice the postmaster's death and exit by themselves.

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
