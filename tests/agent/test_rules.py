"""The rule scorer on hand-made batches, and rule files written to tmp_path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.scorers.rules import Range, RuleScorer, RuleSet
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import ReadingBatch

NAN = math.nan


def batch(types: list[str], **metrics: list[float]) -> ReadingBatch:
    n = len(types)
    return ReadingBatch(
        sensor_id=[f"s{i}" for i in range(n)],
        sensor_type=types,
        ts=np.full(n, 1.7e9),
        metrics={k: np.array(v, dtype=np.float64) for k, v in metrics.items()},
    )


def test_default_rules_are_the_notebooks_low_tier() -> None:
    b = batch(
        ["x"] * 5,
        temperature=[25.0, 46.0, 4.0, 40.0, 25.0],
        vibration=[0.5, 0.5, 0.5, 0.5, 3.0],
        power_consumption=[100.0, 100.0, 100.0, 100.0, 100.0],
    )
    s = RuleScorer().score(b)
    assert s.anomaly.tolist() == [False, True, True, False, True]
    # temperature: (46 - 40) / 30 and (10 - 4) / 30; vibration: (3 - 2) / 2.
    np.testing.assert_allclose(s.score[1:], [0.2, 0.2, 0.0, 0.5])
    # Inside every range: minus the smallest margin, here power's 70 / 170 vs temp's 15 / 30.
    assert s.score[0] == pytest.approx(-70 / 170)
    assert s.scorer == ["rules"] * 5


def test_confidence_is_a_half_on_a_bound_and_grows_with_distance() -> None:
    temps = [40.0, 40.5, 43.0, 60.0, 39.5, 25.0]
    s = RuleScorer().score(batch(["x"] * 6, temperature=temps))
    assert s.confidence[0] == pytest.approx(0.5)
    assert s.confidence[1] < s.confidence[2] < s.confidence[3] <= 1.0
    assert s.confidence[4] < s.confidence[5]
    assert s.confidence[2] == pytest.approx(1 - 0.5 * math.exp(-(3 / 30) / 0.1))


def test_absent_metrics_are_ignored_and_uncovered_readings_have_no_score() -> None:
    b = batch(
        ["x"] * 3,
        temperature=[NAN, 50.0, NAN],
        vibration=[2.5, NAN, NAN],
        humidity=[10.0, 10.0, 99.0],
    )
    s = RuleScorer().score(b)
    assert s.anomaly.tolist() == [True, True, False]
    assert s.score[0] == pytest.approx(0.25) and s.score[1] == pytest.approx(10 / 30)
    assert math.isnan(s.score[2]) and s.confidence[2] == 0.5


def test_non_finite_values_do_not_warn() -> None:
    s = RuleScorer().score(batch(["x", "x"], vibration=[math.inf, -math.inf]))
    assert s.anomaly.tolist() == [True, False]


def test_empty_batch() -> None:
    s = RuleScorer().score(batch([], temperature=[]))
    assert len(s) == 0 and s.score.shape == (0,)


RULE_FILE = """
confidence_scale = 0.2

[metrics.temperature]
min = 10
max = 40.0

[metrics.vibration]
max = 2.0
scale = 0.5

[types.medical.metrics.temperature]
min = 35.0
max = 39.0

[types.pump.metrics.Current]
max = 3.0
"""


def test_rule_file_with_type_overrides(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULE_FILE, encoding="utf-8")
    rules = RuleSet.from_toml(path)
    assert rules.range_for("medical", "vibration") == Range(-math.inf, 2.0, 0.5)
    b = batch(
        ["medical", "industrial", "pump", "industrial", "medical"],
        temperature=[34.0, 34.0, NAN, NAN, 37.0],
        vibration=[NAN, NAN, NAN, 3.0, 2.5],
        Current=[9.0, 9.0, 3.5, 9.0, NAN],
    )
    s = RuleScorer(rules).score(b)
    assert s.anomaly.tolist() == [True, False, True, True, True]
    np.testing.assert_allclose(s.score[[0, 2, 3, 4]], [0.25, 0.5 / 3, 2.0, 1.0])
    assert s.confidence[0] == pytest.approx(1 - 0.5 * math.exp(-0.25 / 0.2))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[metrics.temperature\nmin = 1", "cannot read"),
        ("[metrics.temperature]\nmin = 5.0\nmax = 1.0", "min 5.0 > max 1.0"),
        ("[metrics.temperature]\nlow = 5.0", "low"),
        ("[metrics.temperature]\nmin = '5'", "min"),
        ("[metrics.temperature]\n", "min and/or max"),
        ("[metrics.vibration]\nmax = 1.0\nscale = 0", "scale"),
        ("[metrics.vibration]\nmax = nan", "max"),
        ("confidence_scale = -1", "confidence_scale"),
    ],
)
def test_malformed_rule_files_raise_config_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        RuleSet.from_toml(path)


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        RuleSet.from_toml(tmp_path / "nope.toml")
