"""coordinator.rollout.gate: the quality gate's decisions, on the soak time it is given."""

from __future__ import annotations

import pytest

from edgewatch.coordinator.rollout.gate import (
    GateInput,
    GateSettings,
    Side,
    judge,
    rank_shift,
)

S = GateSettings(soak_s=600, min_readings=200, min_rescored=50)
GOOD = GateInput(canary=Side(1000, 10), baseline=Side(5000, 60), rescored=100, agreed=97)


def test_a_healthy_canary_passes_only_once_soaked() -> None:
    assert judge(GOOD, S, 599.9).decision == "wait"
    verdict = judge(GOOD, S, 600)
    assert verdict.decision == "pass"
    assert verdict.figures["anomaly_rate_ratio"] == pytest.approx(0.01 / 0.012, rel=1e-3)
    assert verdict.figures["agreement"] == 0.97


@pytest.mark.parametrize(
    ("canary", "ok"),
    [
        (Side(1000, 6), True),
        (Side(1000, 5), False),
        (Side(1000, 24), True),
        (Side(1000, 25), False),
    ],
)
def test_the_anomaly_rate_must_stay_within_half_and_twice_the_baseline(
    canary: Side, ok: bool
) -> None:
    inp = GateInput(canary=canary, baseline=Side(1000, 12))
    assert judge(inp, S, 600).decision == ("pass" if ok else "fail")


def test_tiny_rates_compare_at_the_floor() -> None:
    # 0 against 0.1 % is not "infinitely far off": both count as the 0.2 % floor.
    inp = GateInput(canary=Side(1000, 0), baseline=Side(1000, 1))
    assert judge(inp, S, 600).decision == "pass"
    # A silent canary against a noisy baseline fails, and the reason says why 0 is not 0x.
    quiet = judge(GateInput(canary=Side(1000, 0), baseline=Side(1000, 14)), S, 600)
    assert quiet.decision == "fail"
    assert quiet.reasons[0].startswith(
        "anomaly rate 0.0000 is 0.14x the baseline's 0.0140 (rates floored at 0.002)"
    )
    loud = judge(GateInput(canary=Side(1000, 100), baseline=Side(1000, 14)), S, 600)
    assert "floored" not in loud.reasons[0]


def test_errors_and_refusals_fail_at_once_even_while_soaking() -> None:
    assert judge(GateInput(canary=Side(), baseline=Side(), errors=1), S, 0).decision == "fail"
    refused = GateInput(canary=Side(), baseline=Side(), refusals=("a1: refused ...",))
    verdict = judge(refused, S, 0)
    assert verdict.decision == "fail" and "a1: refused" in verdict.reasons[0]


def test_too_few_readings_wait_then_fail() -> None:
    thin = GateInput(canary=Side(150, 1), baseline=Side(5000, 60))
    assert judge(thin, S, 600).decision == "wait"
    assert judge(thin, S, 1799).decision == "wait"
    verdict = judge(thin, S, 1800)
    assert verdict.decision == "fail" and "too few readings" in verdict.reasons[0]


def test_score_shift_and_cloud_agreement() -> None:
    shifted = GateInput(canary=Side(1000, 10), baseline=Side(1000, 10), shift=0.31)
    assert "score distribution shifted" in judge(shifted, S, 600).reasons[0]
    disagree = GateInput(canary=Side(1000, 10), baseline=Side(1000, 10), rescored=100, agreed=85)
    assert "cloud agreement 0.850" in judge(disagree, S, 600).reasons[0]
    few = GateInput(canary=Side(1000, 10), baseline=Side(1000, 10), rescored=49, agreed=0)
    assert judge(few, S, 600).decision == "pass"  # too few re-scored to judge agreement


def test_rank_shift_is_the_largest_cdf_gap_from_uniform() -> None:
    assert rank_shift((0,) * 10) is None
    assert rank_shift((10,) * 10) == pytest.approx(0.0)
    assert rank_shift((0,) * 9 + (10,)) == pytest.approx(0.9)
    assert rank_shift((100,) + (0,) * 9) == pytest.approx(0.9)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        GateSettings(rate_low=1.5)
    with pytest.raises(ValueError):
        GateSettings(max_soak_factor=0.5)
