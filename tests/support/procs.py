"""edgewatch processes as real subprocesses, so a test can SIGKILL them mid-stream.

Each process writes stdout and stderr to one log file; ``ProcGroup`` remembers every
process a test spawned, kills whatever is left at teardown and renders the last lines of
each log when the test failed (the ``procs`` fixture in ``tests/conftest.py``).

    >>> agent = procs.edgewatch("agent", "--id", "a1", "--broker", broker.url, name="a1")
    >>> wait_until(lambda: "connected" in agent.log_text(), 10, message="agent never connected")
    >>> agent.kill()            # SIGKILL, the crash we are testing
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it; a race is possible but rare)."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    interval: float = 0.1,
    message: str = "condition not met",
) -> None:
    """Poll ``predicate`` until it is truthy; raise ``AssertionError(message)`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:.1f}s)")
        time.sleep(interval)


def tail(path: Path, lines: int = 50) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def edgewatch_argv(*args: str) -> list[str]:
    """The command line of ``edgewatch ARGS`` without needing the package installed."""
    return [sys.executable, "-m", "edgewatch.shared.cli", *args]


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment minus ``EDGEWATCH_*`` (a developer's shell must not leak
    into a test), with output unbuffered, then ``env`` on top. The package itself comes
    from the editable install (``make test``), exactly as a user's ``edgewatch`` does."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    base["PYTHONUNBUFFERED"] = "1"
    base.update(env or {})
    return base


class Proc:
    """One spawned process and its log file."""

    def __init__(self, name: str, argv: Sequence[str], popen: subprocess.Popen[bytes], log: Path):
        self.name = name
        self.argv = list(argv)
        self.log_path = log
        self._popen = popen

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, pid={self.pid}, returncode={self.returncode})"

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to this process only (default SIGKILL, a crash)."""
        if self.alive:
            self._popen.send_signal(sig)
            if sig == signal.SIGKILL:
                self._popen.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait for a clean exit, SIGKILL if it does not come; the exit code."""
        if self.alive:
            self._popen.terminate()
            try:
                return self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._popen.wait(10)

    def wait(self, timeout: float) -> int:
        """Wait for exit; raise ``AssertionError`` with the log tail if it does not come."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout}s:\n{self.tail(20)}"
            ) from None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a line of the log matches the regex ``pattern``; return the match."""
        regex = re.compile(pattern, re.MULTILINE)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            m = regex.search(self.log_text())
            if m:
                found.append(m)
            return m is not None or not self.alive

        wait_until(seen, timeout, message=f"{self.name}: no log line matching {pattern!r}")
        if not found:
            raise AssertionError(
                f"{self.name} exited ({self.returncode}) before logging {pattern!r}:\n"
                f"{self.tail(20)}"
            )
        return found[0]

    def tail(self, lines: int = 50) -> str:
        return tail(self.log_path, lines)


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    log_path: Path,
    name: str | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``argv`` with stdout and stderr appended to ``log_path``.

    Each child gets a session of its own so teardown can reap anything it forked with a
    group kill, while ``Proc.kill`` still hits only the process itself.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"--- {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            env=child_env(env),
            cwd=str(cwd or REPO_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name or Path(argv[0]).name, argv, popen, log_path)


class ProcGroup:
    """Every process one test spawned; ``close()`` leaves none behind."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, *, name: str
    ) -> Proc:
        # A restarted process appends to the same log, so its history reads in one place.
        proc = spawn(argv, env, log_path=self.log_dir / f"{name}.log", name=name)
        self.procs.append(proc)
        return proc

    def edgewatch(self, *args: str, name: str, env: Mapping[str, str] | None = None) -> Proc:
        """Spawn ``edgewatch ARGS`` (``python -m edgewatch.shared.cli``)."""
        return self.spawn(edgewatch_argv(*args), env, name=name)

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive:
                proc.kill()
            try:
                # Reap grandchildren too: the session id is the child's own pid.
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue

    def report(self, lines: int = 50) -> str:
        """The last ``lines`` of each log, headed by name, pid and exit code."""
        parts = []
        # A restarted process shares its predecessor's log: show each log once, newest.
        latest = {proc.log_path: proc for proc in self.procs}
        for proc in latest.values():
            state = "running" if proc.alive else f"exit {proc.returncode}"
            parts.append(f"===== {proc.name} (pid {proc.pid}, {state}) {proc.log_path}")
            parts.append(proc.tail(lines) or "(empty log)")
        return "\n".join(parts)
