"""``edgewatch coordinator`` as a user runs it: --help, serve, stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.shared.cli import main
from tests.support.procs import REPO_ROOT as ROOT

CONTRACT_FLAGS = (
    "--broker",
    "--db",
    "--host",
    "--port",
    "--topic-prefix",
    "--mqtt-version",
    "--api-token",
    "--max-payload-bytes",
    "--max-future-skew-s",
    "--share-group",
    "--queue-size",
    "--client-id",
)


def _edgewatch(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-m", "edgewatch.shared.cli", "coordinator", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_help_lists_the_contract_flags() -> None:
    proc = _edgewatch("--help")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    missing = [flag for flag in CONTRACT_FLAGS if flag not in out]
    assert missing == []
    assert "EDGEWATCH_BROKER" in out


def test_placeholder_token_is_refused(tmp_path: Path) -> None:
    code = main(["coordinator", "--api-token", "changeme", "--db", str(tmp_path / "c.db")])
    assert code == 2
    assert not (tmp_path / "c.db").exists()


def test_serves_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    proc = _edgewatch(
        "--broker",
        f"embedded:{mqtt_port}",
        "--db",
        str(tmp_path / "c.db"),
        "--port",
        str(port),
        "--client-id",
        "cli-test",
    )
    try:
        body = _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health/ready", proc)
        assert body["status"] == "ready" and body["mqtt_protocol"] == "3.1.1"
        token = (tmp_path / "api-token").read_text().strip()
        stats = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/stats", headers={"Authorization": f"Bearer {token}"}
        )
        assert stats.status_code == 200 and stats.json()["readings_stored"] == 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "coordinator stopped" in out
    assert token not in out  # the generated token is written to a file, never logged


def _wait_healthy(
    url: str, proc: subprocess.Popen[str], timeout: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            response = httpx.get(url, timeout=1)
            body: dict[str, object] = response.json()
            if body.get("status") == "ready":
                return body
        except httpx.HTTPError:
            time.sleep(0.1)  # not listening yet
            continue
        time.sleep(0.1)
    raise TimeoutError(f"{url} never became healthy")
