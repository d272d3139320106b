"""The alert mechanics both sides share: hysteresis, ``for``, the edge's rules."""

from __future__ import annotations

import pytest

from edgewatch.shared.alert_rules import (
    EdgeAlertConfig,
    EdgeRules,
    Hysteresis,
    Levels,
    SlidingRate,
)


def test_a_value_oscillating_around_the_raise_level_raises_once() -> None:
    h = Hysteresis(Levels(raise_at=0.15, clear_at=0.10, above=True))
    values = [0.14, 0.16, 0.14, 0.16, 0.149, 0.151, 0.12, 0.16, 0.11, 0.2]
    verdicts = [h.observe("s1", v, float(t)) for t, v in enumerate(values)]
    assert verdicts.count("raise") == 1 and verdicts.count("clear") == 0
    assert h.observe("s1", 0.10, 20.0) == "clear"  # only at the clear level
    assert h.observe("s1", 0.16, 21.0) == "raise"  # and may raise again after


def test_for_needs_the_value_bad_the_whole_time() -> None:
    h = Hysteresis(Levels(raise_at=20.0, clear_at=25.0, above=False, for_s=30.0))
    assert h.observe("a", 10.0, 0.0) is None
    assert h.observe("a", 10.0, 29.9) is None
    assert h.observe("a", 30.0, 30.0) is None  # good again: the clock starts over
    assert h.observe("a", 10.0, 31.0) is None
    assert h.observe("a", 10.0, 61.0) == "raise"
    assert h.observe("a", 22.0, 62.0) is None  # between the levels: still firing
    assert h.observe("a", 25.0, 63.0) == "clear"


def test_no_data_holds_a_firing_alert_and_resets_a_pending_one() -> None:
    h = Hysteresis(Levels(1.0, 0.5, for_s=10))
    h.observe("x", 2.0, 0.0)
    assert h.observe("x", None, 5.0) is None
    assert h.observe("x", 2.0, 12.0) is None  # for restarted at 12
    assert h.observe("x", 2.0, 22.0) == "raise"
    assert h.observe("x", None, 23.0) is None and h.firing("x")


def test_levels_the_wrong_way_round_are_refused() -> None:
    with pytest.raises(ValueError):
        Levels(raise_at=0.1, clear_at=0.2, above=True)
    with pytest.raises(ValueError):
        Levels(raise_at=20, clear_at=10, above=False)


def test_sliding_rate_forgets_readings_older_than_its_window() -> None:
    r = SlidingRate(window_s=10)
    for t in range(10):
        r.add("s", 100.0 + t, anomaly=t < 5)
    assert r.rate("s") == (0.5, 10)
    r.add("s", 115.0, anomaly=False)
    rate, n = r.rate("s")
    assert n == 5 and rate == 0.0  # seconds 106..115 remain: 105 and earlier are gone


def test_edge_rules_raise_critical_once_and_clear_after_quiet() -> None:
    rules = EdgeRules(
        EdgeAlertConfig(critical_confidence=0.9, critical_clear_s=60, rate_min_count=1000)
    )
    found = rules.observe(
        ["s1", "s1", "s2"],
        ["t", "t", "t"],
        [1.0, 2.0, 3.0],
        [True, True, True],
        [0.95, 0.99, 0.5],
        0.0,
    )
    assert [(f.rule, f.sensor_id, f.verdict) for f in found] == [
        ("critical_anomaly", "s1", "raise")
    ]
    assert rules.observe(["s1"], ["t"], [4.0], [True], [0.97], 10.0) == []  # still open
    assert rules.tick(69.0) == []
    cleared = rules.tick(70.0)
    assert [(f.rule, f.verdict) for f in cleared] == [("critical_anomaly", "clear")]


def test_edge_anomaly_rate_has_hysteresis_and_a_minimum_count() -> None:
    rules = EdgeRules(
        EdgeAlertConfig(
            rate_window_s=100,
            rate_raise=0.15,
            rate_clear=0.10,
            rate_min_count=20,
            critical_confidence=1.0,
        )
    )

    def feed(n: int, bad: int, start: float) -> list[str]:
        ts = [start + i * 0.5 for i in range(n)]
        found = rules.observe(
            ["s"] * n, ["t"] * n, ts, [i < bad for i in range(n)], [0.5] * n, start
        )
        return [f.verdict for f in found if f.rule == "high_anomaly_rate"]

    assert feed(10, 10, 0.0) == []  # 100 % but only 10 readings
    assert feed(30, 0, 5.0) == ["raise"]  # 10 of 40 = 25 %
    assert feed(40, 0, 20.0) == []  # 10 of 80 = 12.5 %: between the levels
    assert feed(30, 0, 40.0) == ["clear"]  # 10 of 110 < 10 %
