"""Benchmark children: real ``edgewatch`` processes, started, watched and stopped.

Shared by ``bench pipeline`` and ``bench recovery`` so both run the processes the same
way a deployment does (separate interpreters, logs to files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def edgewatch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgewatch.shared.cli", "--log-level", "WARNING", *args]


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    out = open(log, "wb")  # noqa: SIM115 - the child writes it for its whole life
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/v1/health/ready"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if json.loads(resp.read()).get("status") == "ready":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"coordinator not healthy at {url} within {timeout}s")


def api_get(port: int, path: str, token: str) -> Any:
    """``GET /api/v1/PATH`` of a coordinator on localhost, as JSON."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def api_post(port: int, path: str, token: str, body: Any) -> Any:
    """``POST /api/v1/PATH`` with a JSON body, as JSON."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
