"""``edgewatch bench recovery --json``: a tiny real run (private Mosquitto, real processes).

Checks the shape of the JSON a user records and that the drain lost and duplicated
nothing; the figures themselves are the benchmark's business, not a timed assertion.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.procs import REPO_ROOT, child_env, edgewatch_argv

KEYS = {
    "broker",
    "backlog_built",
    "offline_s",
    "sensors",
    "rate_per_sensor",
    "rate",
    "backlog",
    "drain_s",
    "drain_readings_per_s",
    "live_lag_max_s",
    "live_lag_p99_s",
    "live_readings_during_drain",
    "generated",
    "stored",
    "dropped_by_bound",
    "lost",
    "duplicates",
    "agent_startup_s",
    "agent_exit_code",
    "settings",
    "target_drain_s",
    "target_live_lag_s",
    "workdir",
}


def test_bench_recovery_smoke_run_prints_its_figures_and_loses_nothing(tmp_path: Path) -> None:
    argv = edgewatch_argv(
        "bench",
        "recovery",
        "--json",
        "--offline-s",
        "4",
        "--sensors",
        "5",
        "--rate-per-sensor",
        "100",
        "--live-s",
        "2",
        "--batch-max",
        "100",
        "--workdir",
        str(tmp_path),
        "--timeout",
        "90",
    )
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=150
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert set(result) == KEYS
    assert result["backlog_built"] == "compressed" and result["broker"] == "mosquitto"
    assert result["backlog"] == 2000  # 5 sensors x 100/s x 4 s
    assert result["generated"] == 3000 == result["stored"]
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["dropped_by_bound"] == 0
    assert result["agent_exit_code"] == 0
    # Real processes take real time: 0 would mean nothing was measured.
    assert 0 < result["drain_s"] < 60 and 0 < result["live_lag_max_s"] < 30
    assert result["settings"]["batch_max"] == 100
