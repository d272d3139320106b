"""coordinator.bench.scoring: the benchmark runs and reports every figure (no timing asserts)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from edgewatch.coordinator.bench import scoring


def test_one_case_measures_all_three_ways_and_ours_matches_sklearn() -> None:
    case = scoring.measure_case(50, 5, seed=1, reps=scoring.QUICK)
    for way in ("ours", "stock", "sklearn"):
        assert {"p50_us", "p99_us", "rows_per_s"} <= set(case[way])
        assert case[way]["p50_us"] > 0 and case[way]["rows_per_s"] > 0
    assert case["ours"]["max_abs_diff_vs_sklearn"] <= 1e-5
    assert case["ours"]["nodes"] == 4 and case["stock"]["nodes"] > 50 * 10
    assert case["ours"]["file_bytes"] < case["stock"]["file_bytes"]
    assert case["ratios"]["speedup_vs_stock"] == pytest.approx(
        case["stock"]["p50_us"] / case["ours"]["p50_us"]
    )


def fake_case(trees: int, p50: float, rows: float, load: float) -> dict[str, Any]:
    return {
        "trees": trees,
        "ours": {"p50_us": p50, "rows_per_s": rows, "file_bytes": 200_000, "load_ms": load},
        "ratios": {"speedup_vs_stock": 30.0, "throughput_vs_stock": 4.0},
    }


def test_targets_are_judged_on_the_right_cases() -> None:
    met = scoring.check_targets([fake_case(50, 80.0, 100_000, 5), fake_case(100, 20, 2e5, 5)])
    assert all(met.values())  # 50-tree figures do not count against 100-tree targets
    missed = scoring.check_targets([fake_case(100, 60.0, 100_000, 150)])
    assert not missed["p50_us_100_trees<=50"]
    assert not missed["rows_per_s_100_trees>=150k"]
    assert not missed["load<=100ms"]


def test_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    scoring.add_arguments(parser)
    argv = ["--json", "--quick", "--trees", "50", "--features", "5", "--detectors", "pca"]
    assert scoring.run(parser.parse_args(argv)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bench"] == "scoring" and result["threads"] == 1
    assert [(c["trees"], c["features"]) for c in result["cases"]] == [(50, 5)]
    assert set(result["targets"]) >= {"file<=1MB", "load<=100ms", "detector_state<=4KB"}
    (pca,) = result["detectors"]
    assert pca["detector"] == "pca" and pca["max_abs_diff_vs_reference"] <= 1e-9
    assert pca["rows_per_s"] > 0 and pca["scorer_p50_us"] > 0 and pca["state_bytes"] > 0
    assert "detector_agent_rows_per_s>=150k" in result["targets"]


def test_shipped_recipes_are_measured_as_their_evaluations_train_them() -> None:
    from edgewatch.coordinator.evaluation.recipe import NAB_RECIPE, SKAB_RECIPE

    skab = scoring.measure_detector("skab", 0, scoring.QUICK)
    nab = scoring.measure_detector("nab", 0, scoring.QUICK)
    assert (skab["recipe"], skab["features"], skab["training_rows"]) == (SKAB_RECIPE.name, 32, 400)
    assert (nab["recipe"], nab["features"], nab["training_rows"]) == (NAB_RECIPE.name, 20, 750)
    assert nab["policy"] == "adaptive" and skab["policy"] == "static"
    # Per sensor: SKAB's 9 rows of 8 metrics and 9 smoothing floats; NAB's 19 values and
    # the adaptive policy's 4 numbers.
    assert skab["state_bytes"] == 9 * 8 * 8 + 9 * 8 and nab["state_bytes"] == 19 * 8 + 32
    for row in (skab, nab):
        assert row["max_abs_diff_vs_reference"] <= 1e-6 and row["file_bytes"] < 1024 * 1024
