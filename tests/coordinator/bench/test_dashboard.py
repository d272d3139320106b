"""coordinator.bench.dashboard: the benchmark drives a real page and reports (no timing asserts)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.procs import REPO_ROOT, child_env, edgewatch_argv


@pytest.mark.mosquitto
def test_dashboard_bench_measures_a_real_page() -> None:
    argv = edgewatch_argv("bench", "dashboard", "--agents", "5", "--rounds", "2", "--json")
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["agents"] == 5 and result["rounds"] == 2
    assert 0 < result["first_paint_ms"] <= result["first_paint_ms_max"]
    assert 0 < result["update_ms_p50"] <= result["update_ms_max"]
    # The page's own files: HTML, app, charts, uPlot and its CSS, our CSS, the session.
    assert result["page_files"] >= 6 and 50_000 < result["page_bytes"] < 1_000_000
    assert set(result["targets"]) == {
        "first_paint_ms<=1000",
        "update_ms_max<=2000",
        "page_bytes<=300KB",
    }
