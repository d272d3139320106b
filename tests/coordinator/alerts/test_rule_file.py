"""A rule file is checked whole at start: every mistake is refused with its line and
reason, and ``edgewatch coordinator`` ends in that one line (exit 2) before it starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgewatch.coordinator.alerts.rules import DEFAULT_RULES, RuleFileError, load_rules
from tests.support.procs import REPO_ROOT, child_env, edgewatch_argv

BAD = {
    "syntax": ("[rules.low_battery\nbelow = 10\n", "line 1"),
    "unknown metric": (
        '[rules.low_battery]\nbelow = 10\n\n[rules.mine]\nmetric = "latency"\nabove = 3\n',
        "line 5: rule 'mine': unknown metric 'latency'",
    ),
    "unknown key": ("[rules.low_battery]\nbelow = 10\nthreshold = 3\n", "line 3"),
    "levels the wrong way round": (
        "[rules.high_anomaly_rate]\nabove = 0.2\nclear = 0.3\n",
        "line 3: rule 'high_anomaly_rate': clear level 0.3 above raise level 0.2",
    ),
    "scope the metric has not": (
        '[rules.low_battery]\nscope = "sensor"\n',
        "line 2: rule 'low_battery': metric 'battery_percent' has no scope 'sensor'",
    ),
    "bad duration": ('[rules.clock_skew]\nfor = "soon"\n', "line 2"),
    "both directions": ("[rules.low_battery]\nabove = 90\nbelow = 10\n", "exactly one"),
    "webhook not a URL": ('[webhooks]\ncritical = "hooks.example.net"\n', "line 2"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_rule_file_is_refused_with_line_and_reason(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as err:
        load_rules(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_defaults_cover_the_notebook_and_the_issue() -> None:
    names = set(DEFAULT_RULES)
    assert names == {
        "high_anomaly_rate", "agent_offline", "fleet_availability", "high_latency",
        "low_battery", "critical_anomaly", "outbox_backlog", "sensor_silent", "clock_skew",
        "ingest_rejects", "model_rollback", "agent_not_converged",
    }  # fmt: skip
    assert DEFAULT_RULES["high_anomaly_rate"].above == 0.15
    assert DEFAULT_RULES["agent_offline"].below == 0.8
    assert DEFAULT_RULES["fleet_availability"].below == 0.8
    assert DEFAULT_RULES["low_battery"].below == 20.0
    assert DEFAULT_RULES["critical_anomaly"].above == 0.9


def test_a_file_overrides_disables_and_adds(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        "[rules.high_anomaly_rate]\nabove = 0.3\nclear = 0.2\n"
        "[rules.low_battery]\nenabled = false\n"
        '[rules.very_high_rate]\nmetric = "anomaly_rate"\nscope = "type"\nabove = 0.5\n'
        'severity = "critical"\nwindow = "15m"\n'
        '[webhooks]\ncritical = "http://127.0.0.1:9/hook"\nretries = 1\n'
    )
    rules = load_rules(path)
    assert rules.rules["high_anomaly_rate"].above == 0.3
    assert rules.rules["high_anomaly_rate"].window_s == 300  # the rest kept
    assert not rules.rules["low_battery"].enabled
    mine = rules.rules["very_high_rate"]
    assert (mine.scope, mine.window_s, mine.severity) == ("type", 900.0, "critical")
    assert rules.webhooks == {"critical": "http://127.0.0.1:9/hook"} and rules.webhook_retries == 1


def test_the_coordinator_refuses_a_bad_rule_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[rules.x]\nmetric = "nope"\nabove = 1\n')
    result = subprocess.run(
        edgewatch_argv(
            "coordinator", "--alert-rules", str(path), "--db", str(tmp_path / "c.db"), "--port", "0"
        ),
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("edgewatch coordinator:")]
    assert lines == [
        f"edgewatch coordinator: alert rules {path}, line 2: rule 'x': unknown metric 'nope' "
        "(known: anomaly_rate, latency_p95_s, agent_availability, fleet_availability, "
        "battery_percent, outbox_oldest_age_s, sensor_silence_s, clock_skew_s, "
        "ingest_rejects_per_min, converge_lag_s, confidence, model_rollback)"
    ], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "c.db").exists()
