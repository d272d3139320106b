"""coordinator.evaluation: the SKAB protocol and ``edgewatch eval skab``, on made-up files."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.evaluation import cli
from edgewatch.coordinator.evaluation.recipe import POINTWISE_IFOREST, SKAB_RECIPE, Recipe
from edgewatch.coordinator.evaluation.skab import Confusion, EvalConfig, evaluate, predict_baseline
from edgewatch.shared.csvfile import read_csv
from tests.support.procs import REPO_ROOT as ROOT

COLUMNS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]
LEVELS = np.array([0.027, 0.040, 1.3, 0.25, 79.0, 26.0, 233.0, 32.0])
NOISE = np.array([0.001, 0.0015, 0.05, 0.05, 0.2, 0.1, 1.0, 0.5])


def write_skab(path: Path, rng: np.random.Generator, rows: int, labelled: bool = True) -> None:
    """A SKAB-format file: ``;``-separated, datetime first, an obvious anomaly late on."""
    x = LEVELS + rng.normal(size=(rows, 8)) * NOISE
    label = np.zeros(rows)
    label[rows - 120 : rows - 40] = 1.0
    x[label == 1] += NOISE * 12
    head = ["datetime", *COLUMNS] + (["anomaly", "changepoint"] if labelled else [])
    lines = [";".join(head)]
    for i in range(rows):
        stamp = f"2020-03-09 10:{i // 60 % 60:02d}:{i % 60:02d}"
        tail = [f"{label[i]:.1f}", "0.0"] if labelled else []
        lines.append(";".join([stamp, *(f"{v:.6g}" for v in x[i]), *tail]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def skab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("skab")
    rng = np.random.default_rng(0)
    write_skab(root / "valve1" / "0.csv", rng, 700)
    write_skab(root / "valve1" / "1.csv", rng, 650)
    write_skab(root / "other" / "deeper" / "3.csv", rng, 600)
    write_skab(root / "anomaly-free" / "anomaly-free.csv", rng, 500, labelled=False)
    return root


def test_confusion_figures() -> None:
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    predicted = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    f = (Confusion.of(truth, predicted) + Confusion(tn=2)).figures()
    assert (f["tp"], f["fp"], f["tn"], f["fn"]) == (2, 1, 6, 1)
    assert f["f1"] == pytest.approx(4 / 6)
    assert f["far"] == pytest.approx(1 / 7)
    assert f["mar"] == pytest.approx(1 / 3)


def test_csv_reader_takes_skab_format(skab_dir: Path) -> None:
    table = read_csv(skab_dir / "valve1" / "0.csv")
    assert table.metric_names == tuple(COLUMNS) and table.labelled
    assert len(table) == 700 and table.label[600] == 1
    assert table.ts[1] - table.ts[0] == 1.0


def test_bad_rows_are_skipped_not_fatal(tmp_path: Path) -> None:
    # The evaluation reads files as CSV replay does: a broken row costs that row only.
    rng = np.random.default_rng(1)
    path = tmp_path / "broken" / "0.csv"
    write_skab(path, rng, 600)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[10] = lines[10].replace(";", ";oops;", 1)  # field_count
    lines[20] = ";".join(["2020-03-09 10:00:20", "x", *lines[20].split(";")[2:]])  # bad_number
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate(tmp_path, EvalConfig(recipe=SKAB_RECIPE), candidates=None)
    assert len(report.files) == 1 and report.test_rows == 600 - 2 - 400


SMALL_GRID = (POINTWISE_IFOREST, Recipe("pca", window=5, stats=("mean", "std"), margin=2.0))


@pytest.mark.parametrize("recipe", [SKAB_RECIPE, POINTWISE_IFOREST], ids=["pca", "iforest"])
def test_evaluation_uses_every_labelled_file_and_finds_the_fault(
    skab_dir: Path, recipe: Recipe
) -> None:
    messages: list[str] = []
    report = evaluate(skab_dir, EvalConfig(recipe=recipe), messages.append, candidates=None)
    assert len(report.files) == 3  # anomaly-free has no labels: not part of the protocol
    assert report.test_rows == 300 + 250 + 200
    ours = report.ours.figures()
    # A windowed, smoothed score trails a fault's end by up to window + smooth readings.
    assert ours["f1"] > 0.8 and ours["far"] < 0.2
    assert report.parity.max_abs_diff <= 1e-8 and report.parity.label_mismatches == 0
    assert len(messages) == 1  # one recipe scored
    assert [f.name for f in report.files] == ["other/3.csv", "valve1/0.csv", "valve1/1.csv"]


def test_validation_chooses_on_the_other_group_only(skab_dir: Path) -> None:
    report = evaluate(skab_dir, EvalConfig(recipe=SMALL_GRID[1]), candidates=SMALL_GRID)
    assert report.validation is not None
    folds = report.validation.folds
    assert [f.held_out for f in folds] == ["other", "valve1"]
    # Each fold's held-out figures are exactly the chosen recipe's on that group's files.
    for fold in folds:
        assert fold.chosen in SMALL_GRID
    pooled = report.validation.pooled
    assert pooled.tp + pooled.fn == report.ours.tp + report.ours.fn  # every test row, once
    out = report.to_dict()
    assert "leave one group out" in out["validation"]["protocol"]  # type: ignore[index]
    assert len(out["per_file"]) == 3  # type: ignore[arg-type]


def test_leave_one_file_out_scores_each_file_with_the_choice_made_on_the_others() -> None:
    from edgewatch.coordinator.evaluation.validation import leave_one_file_out

    keen, calm = POINTWISE_IFOREST, SMALL_GRID[1]
    # Three files: ``keen`` wins everywhere but pays a FAR over the cap on file 2, so
    # only the folds that leave file 2 out may choose it.
    per_file = {
        keen: [Confusion(tp=90, fp=5, tn=95, fn=10)] * 2 + [Confusion(tp=90, fp=60, tn=40)],
        calm: [Confusion(tp=50, fp=1, tn=99, fn=50)] * 3,
    }
    got = leave_one_file_out(per_file)
    assert got.chosen == {keen.name: 1, calm.name: 2}
    assert got.pooled == per_file[calm][0] + per_file[calm][1] + per_file[keen][2]
    assert "leave one file out" in str(got.to_dict()["protocol"])


@pytest.fixture(scope="module")
def real_skab() -> Path:
    path = ROOT.parent / "shared" / "data" / "skab"
    if not (path / "valve1" / "0.csv").is_file():
        pytest.fail(f"SKAB data missing at {path} (slow tests read ../shared/data/skab)", False)
    return path


@pytest.mark.slow
def test_fixed_recipe_and_baseline_on_the_real_skab_files(real_skab: Path) -> None:
    # The shipped recipe's in-sample figures and the reproduced published baseline
    # (docs/BENCHMARKS.md, "SKAB"); the held-out figures need every candidate (minutes).
    report = evaluate(real_skab, EvalConfig(), candidates=None)
    assert len(report.files) == 30 and report.test_rows == 21089
    assert report.ours.f1 >= 0.80 and report.ours.far <= 0.15
    assert abs(report.baseline.f1 - 0.29) <= 0.03
    assert report.parity.label_mismatches == 0


def test_baseline_smoothing_is_a_majority_of_three(skab_dir: Path) -> None:
    table = read_csv(skab_dir / "valve1" / "1.csv")
    smoothed = predict_baseline(table, 400)
    assert smoothed.dtype == np.bool_ and len(smoothed) == 650
    assert not smoothed[:2].any()


def test_eval_command_prints_both_models_as_json(skab_dir: Path) -> None:
    env = dict(os.environ)
    argv = ["eval", "skab", str(skab_dir), "--json", "--no-validate"]
    out = subprocess.run(
        [sys.executable, "-m", "edgewatch.shared.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["files"] == 3
    assert {"f1", "far", "mar"} <= set(result["ours"]) and {"f1", "far"} <= set(result["baseline"])
    assert result["published"]["baseline"]["f1"] == 0.29
    assert result["ours"]["recipe"]["name"] == SKAB_RECIPE.name
    assert result["per_file"][0]["file"] == "other/3.csv"
    assert "[1/1]" in out.stderr  # progress goes to stderr, never into the JSON


def run_eval(*argv: str) -> int:
    # cli.run directly: shared.cli.main would configure logging for the whole test session.
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_eval_command_table_and_bad_path(
    skab_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_eval("skab", str(skab_dir), "--no-validate", "--detector", "iforest") == 0
    table = capsys.readouterr().out
    assert "ours" in table and "baseline" in table
    assert run_eval("skab", str(skab_dir / "nope")) == 2
    assert run_eval("skab", str(skab_dir / "anomaly-free"), "--no-validate") == 1
