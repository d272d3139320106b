"""coordinator.bench.pipeline: the benchmark runs end to end and reports (no timing asserts).

With ``--model medium`` the agent scores with an ONNX model per simulated type, the path
that once could not deliver a single reading.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from edgewatch.agent.sources.fleet_model import SENSOR_TYPES
from tests.support.procs import REPO_ROOT, child_env, edgewatch_argv


@pytest.mark.mosquitto
@pytest.mark.parametrize("model", ["none", "medium"])
def test_pipeline_bench_delivers_everything_and_reports(model: str) -> None:
    argv = edgewatch_argv("bench", "pipeline", "--count", "3000", "--model", model, "--json")
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == model and result["generated"] == 3000 == result["stored"]
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["misattributed"] == 0
    assert result["readings_per_s"] > 0 and result["transport_only_readings_per_s"] > 0
    assert 20 < result["agent_rss_mb"] < 400 and result["agent_exit_code"] == 0
    expected = {} if model == "none" else dict.fromkeys(SENSOR_TYPES, 1)
    assert result["models_announced"] == expected
