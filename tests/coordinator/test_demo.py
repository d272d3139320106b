"""`edgewatch demo` runs the whole system with nothing installed and reports it live."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.procs import child_env, free_port


def test_demo_runs_three_agents_and_stores_readings(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgewatch.shared.cli",
            "--log-level",
            "WARNING",
            "demo",
            "--duration",
            "9",
            "--interval",
            "2",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--rate",
            "300",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert f"API http://127.0.0.1:{port}/api/v1" in out
    summaries = re.findall(r"stored\s+(\d+).*agents online (\d)/3", out)
    assert len(summaries) >= 3, out
    stored = [int(s) for s, _ in summaries]
    assert stored[-1] > stored[0] > 0  # readings keep arriving
    assert summaries[-1][1] == "3"
    assert (tmp_path / "demo" / "coordinator" / "api-token").stat().st_mode & 0o077 == 0
    assert "demo stopped" in out
