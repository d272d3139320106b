"""`edgewatch demo` runs the real topology with nothing installed, and reports it live."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import child_env, free_port

SUMMARY = re.compile(
    r"stored\s+(\d+).*agents online (\d)/3\s+sensors per agent 1:(\d+) 2:(\d+) 3:(\d+)"
)


def _demo(tmp_path: Path, *extra: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "edgewatch.shared.cli", "--log-level", "WARNING", "demo"]
    common = ["--interval", "2", "--port", str(free_port()), "--data-dir", str(tmp_path / "demo")]
    return subprocess.run(
        [*argv, *common, *extra],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=timeout,
    )


def test_the_demo_assigns_sensors_and_moves_them_when_an_agent_dies(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--duration", "26", "--kill-agent-after", "14", "--rate", "300")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    lines = out.splitlines()
    kill = next(i for i, line in enumerate(lines) if line.startswith("killed demo-agent-2"))
    before = [SUMMARY.search(line) for line in lines[:kill]]
    after = [SUMMARY.search(line) for line in lines[kill + 1 :]]
    before_m = [m for m in before if m]
    after_m = [m for m in after if m]
    assert before_m and after_m, out
    # Before the kill: three agents share all 50 sensors; readings flow.
    last_before = before_m[-1]
    counts = [int(last_before.group(k)) for k in (3, 4, 5)]
    assert sum(counts) == 50 and all(counts) and last_before.group(2) == "3", out
    stored = [int(m.group(1)) for m in before_m + after_m]
    assert stored[-1] > stored[len(before_m) - 1] > 0, out  # and keep flowing after it
    # After it: agent 2 watches nothing, the two others all 50.
    final = after_m[-1]
    assert final.group(2) == "2" and int(final.group(4)) == 0, out
    assert int(final.group(3)) + int(final.group(5)) == 50, out
    assert (tmp_path / "demo" / "coordinator" / "api-token").stat().st_mode & 0o077 == 0
    assert "demo stopped" in out


def test_a_second_demo_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgewatch.shared.cli",
            "demo",
            "--duration",
            "60",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env(),
    )
    try:
        assert first.stdout is not None
        assert "edgewatch demo: API" in first.stdout.readline()  # it holds the lock now
        second = _demo(tmp_path, "--duration", "5", timeout=60)
        assert second.returncode == 1
        assert f"another demo (pid {first.pid}) runs in" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.communicate(timeout=30)  # reads and closes its stdout


def test_the_demo_fleet_is_calm_by_default_and_the_share_is_what_it_says() -> None:
    import doctest

    from edgewatch.coordinator import demo

    assert doctest.testmod(demo).failed == 0
    p = demo.episode_start_probability(0.04, 5.0)
    length = demo.DEMO_EPISODE_S * 5.0
    assert abs(p * length / (1 + p * length) - 0.04) < 1e-12
    with pytest.raises(ValueError):
        demo.episode_start_probability(1.0, 5.0)
