"""coordinator.evaluation.nab*: NAB's scoring on hand-computed cases, the windowed
Gaussian baseline against NAB's own published figures, and ``edgewatch eval nab``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.evaluation import cli, nab
from edgewatch.coordinator.evaluation.nab_gaussian import (
    nab_round_trip,
    windowed_gaussian_detections,
    windowed_gaussian_scores,
)
from edgewatch.coordinator.evaluation.nab_scoring import (
    PROFILES,
    Windows,
    normalise,
    probation_length,
    scaled_sigmoid,
    score_corpus,
    score_file,
)

STANDARD = PROFILES[0]
REPO = Path(__file__).resolve().parents[3]
NAB_DATA = REPO.parent / "shared" / "data" / "nab"


def sigma(y: float) -> float:
    return 2 / (1 + math.exp(5 * y)) - 1


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert probation_length(1000) == 150
    assert probation_length(4032) == 604
    assert probation_length(10320) == 750


def test_scaled_sigmoid_matches_nab_documentation() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


# 100 records, probation 15, one window over records [40, 49] (width 10).
N = 100
WINDOW = Windows((40,), (49,))


def detections(*at: int) -> np.ndarray:
    out = np.zeros(N, dtype=np.bool_)
    out[list(at)] = True
    return out


def test_null_detector_scores_zero_and_perfect_detector_100() -> None:
    windows = {"a": WINDOW, "b": Windows((30, 70), (39, 79))}
    null = score_corpus({"a": detections(), "b": np.zeros(N, dtype=np.bool_)}, windows)
    perfect = score_corpus({"a": detections(40), "b": detections(30, 70)}, windows)
    for profile in null:
        assert null[profile].score == 0.0
        assert perfect[profile].score == pytest.approx(100.0)


def test_known_layout_of_true_and_false_positives() -> None:
    # A detection at 45 (6th of 10 records), one before the window (full FP), one 5
    # records after it, one in the probationary period (ignored), a second one in the
    # window (only the best counts).
    got = score_file(detections(5, 20, 45, 47, 54), WINDOW, STANDARD)
    tp = sigma(-(49 - 45 + 1) / 10) / sigma(-1.0)
    fp_before = -0.11
    fp_after = 0.11 * sigma(abs(49 - 54) / 9)
    assert got.raw == pytest.approx(tp + fp_before + fp_after, abs=1e-12)
    assert (got.detected, got.missed, got.false_positives) == (1, 0, 2)
    # reward_low_FN: a missed window costs 2; normalised against null = -2.
    missed = score_file(detections(20), WINDOW, PROFILES[2])
    assert missed.raw == pytest.approx(-2.0 - 0.11)
    assert normalise([missed], PROFILES[2]).score == pytest.approx(100 * (-0.11) / 3)


def test_window_inside_probation_is_not_scored() -> None:
    early = Windows((2,), (8,))
    got = score_file(detections(), early, STANDARD)
    assert got.raw == 0.0 and got.null == 0.0 and got.windows == 1


def test_window_limits_map_to_the_records_they_cover() -> None:
    ts = np.arange(10, dtype=np.float64) * 60.0
    w = Windows.of(ts, [(120.0, 300.0), (30.0, 50.0)])  # the second covers no record
    assert (w.first, w.last) == ((2,), (5,))


def test_gaussian_scores_follow_nab_step_by_step() -> None:
    values = np.array([1.0, 2.0, 3.0, 100.0])
    scores = windowed_gaussian_scores(values, window=3, step=2)
    assert scores[0] == 0.0
    mean, std = 1.5, 0.5  # after two values
    z = (3.0 - mean) / std
    assert scores[2] == pytest.approx(1 - 0.5 * math.erfc(z / math.sqrt(2)))
    assert nab_round_trip(np.array([np.nextafter(1.0, 0.0), 0.5]))[0] == 1.0


@pytest.fixture(scope="module")
def nab_data() -> Path:
    if not (NAB_DATA / "combined_windows.json").is_file():
        pytest.fail(f"NAB data missing at {NAB_DATA} (tests read ../shared/data/nab)", False)
    return NAB_DATA


def test_windowed_gaussian_reproduces_nabs_own_figures(nab_data: Path) -> None:
    files, missing = nab.load_corpus(nab_data)
    assert not missing and len(files) == 33
    dets = {f.key: windowed_gaussian_detections(f.values) for f in files}
    got = score_corpus(dets, {f.key: f.windows for f in files})
    published = nab.PUBLISHED["subset_by_nab_runner"]["windowed_gaussian"]
    for profile, expected in published.items():
        assert got[profile].score == pytest.approx(expected, abs=1.5)
        assert got[profile].score == pytest.approx(expected, abs=0.01)  # in fact exactly


@pytest.mark.slow
def test_fixed_recipe_doubles_the_baseline_on_the_nab_subset(nab_data: Path) -> None:
    result = nab.evaluate(nab_data, candidates=None)
    ours, base = result["ours"]["standard"], result["baseline"]["standard"]  # type: ignore[index]
    assert base["score"] == pytest.approx(27.70, abs=0.01)  # same run, NAB's own figure
    assert ours["score"] >= 60 and ours["score"] >= 2 * base["score"]


def write_corpus(root: Path) -> Path:
    """Two categories, two files each: a cycle of 96 readings around 10 (amplitude 3,
    noise 0.3) and one spike of +8 per file, inside the cycle's range as a whole (a
    global Gaussian sees |z| ~ 4) but a shape never seen in the probationary period."""
    rng = np.random.default_rng(0)
    windows = {}
    n = 1600
    for cat in ("alpha", "beta"):
        for name in ("a.csv", "b.csv"):
            values = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 96) + rng.normal(0, 0.3, n)
            values[1200] += 8
            lines = ["timestamp,value"]
            for i, v in enumerate(values):
                lines.append(
                    f"2015-01-{1 + i // 288:02d} {i % 288 // 12:02d}:{i % 12 * 5:02d}:00,{v:.4f}"
                )
            (root / cat).mkdir(exist_ok=True)
            (root / cat / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            start, end = lines[1 + 1160].split(",")[0], lines[1 + 1240].split(",")[0]
            windows[f"{cat}/{name}"] = [[f"{start}.000000", f"{end}.000000"]]
    (root / "combined_windows.json").write_text(json.dumps(windows), encoding="utf-8")
    return root


def run_eval(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_eval_nab_command_scores_ours_and_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_corpus(tmp_path)
    assert run_eval("nab", str(root), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == 4 and result["windows"] == 4 and result["missing_files"] == []
    assert result["ours"]["standard"]["windows_detected"] == 4
    assert result["ours"]["standard"]["score"] > 80
    assert set(result["baseline"]) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    # The windowed Gaussian judges values against the whole file's spread: the spikes
    # stay inside it, so it finds none of them.
    assert result["baseline"]["standard"]["windows_detected"] == 0
    assert [f["held_out"] for f in result["validation"]["folds"]] == ["alpha", "beta"]
    assert len(result["per_file"]) == 4


def test_eval_nab_takes_another_windows_file_and_names_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_corpus(tmp_path)
    other = tmp_path / "w.json"
    other.write_text(json.dumps({"alpha/a.csv": [], "gone/x.csv": []}), encoding="utf-8")
    assert run_eval("nab", str(root), "--windows", str(other), "--no-validate", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == 1 and result["missing_files"] == ["gone/x.csv"]
    assert run_eval("nab", str(root), "--windows", str(tmp_path / "none.json")) == 2
