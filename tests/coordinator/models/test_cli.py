"""``edgewatch train``, run as the real command, on SKAB and on a generated CSV."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.models import cli
from edgewatch.coordinator.models.trainer import RECIPE_THRESHOLD, TrainConfig, train_csv
from edgewatch.shared.csvfile import read_csv
from edgewatch.shared.runtime import OnnxScorer
from tests.support.procs import REPO_ROOT, child_env

INSTALL_LINE = "copy it to DATA_DIR/models/ of each agent; agents load every *.onnx there at start"


def train(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgewatch.shared.cli", "train", *map(str, argv)],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def field(stdout: str, name: str) -> str:
    """The value of summary line ``name`` (``  version    17``)."""
    line = next(line for line in stdout.splitlines() if line.strip().startswith(name + " "))
    return line.split(None, 1)[1]


@pytest.fixture(scope="module")
def skab_file() -> Path:
    path = REPO_ROOT.parent / "shared" / "data" / "skab" / "valve1" / "0.csv"
    if not path.is_file():
        pytest.fail(f"SKAB data missing at {path} (tests read ../shared/data/skab)", False)
    return path


def write_generated(path: Path, rows: int = 600) -> Path:
    """Two correlated metrics around fixed levels, ','-separated, two junk rows."""
    rng = np.random.default_rng(3)
    lines = ["timestamp,temperature,vibration"]
    for i in range(rows):
        temperature = 40 + rng.normal(0, 0.5)
        vibration = 0.5 + 0.01 * (temperature - 40) + rng.normal(0, 0.02)
        lines.append(f"{1609459200 + i},{temperature:.3f},{vibration:.4f}")
    lines.insert(5, "1609459999,hot,0.5")  # bad_number
    lines.insert(9, "1609459999,40")  # field_count
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_skab_file_gives_the_model_train_csv_gives(skab_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "skab.onnx"
    argv = ["--csv", skab_file, "--type", "skab", "--tier", "high", "--rows", 400]
    result = train(*argv, "--version", 3, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == INSTALL_LINE
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert field(result.stdout, "file") == f"{len(data):,} bytes, sha256 {digest}"
    assert field(result.stdout, "rows").startswith("400 of 1147 good rows")
    scorer = OnnxScorer.from_path(out)
    assert (scorer.sensor_type, scorer.version, scorer.meta.n_trees) == ("skab", 3, 100)
    # The same training in-process, with the defaults the command documents.
    config = TrainConfig.for_tier("high", smooth=5, threshold=RECIPE_THRESHOLD, random_state=0)
    reference = train_csv(skab_file, config, sensor_type="skab", rows=400)
    assert scorer.meta.threshold == reference.threshold
    assert scorer.meta.feature_names == list(reference.spec.names)
    # Scored in file order from a fresh state, no training row is above the threshold
    # (it sits above the largest smoothed training score); the rest get real scores.
    scores = scorer.score(read_csv(skab_file).to_batch("skab"))
    assert len(scores.score) == 1147 and np.isfinite(scores.score).all()
    assert not np.asarray(scores.anomaly)[:400].any()


def test_generated_csv_with_defaults(tmp_path: Path) -> None:
    path = write_generated(tmp_path / "press.csv")
    out = tmp_path / "models" / "press.onnx"
    out.parent.mkdir()
    started = int(time.time())
    result = train("--csv", path, "--rows", 10_000, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "bad_number 1" in field(result.stdout, "rows")
    assert "--rows 10000 asked for more" in result.stdout
    assert field(result.stdout, "trees").startswith("50 ")  # tier medium
    scorer = OnnxScorer.from_path(out)
    assert scorer.sensor_type == "csv"  # CSV replay's default --sensor-type
    assert scorer.meta.training.rows == 600 and scorer.version >= started
    assert scorer.meta.feature_names == ["temperature", "vibration"]
    normal = read_csv(path).to_batch("csv")
    assert not np.asarray(scorer.score(normal).anomaly).any()
    # A run of readings far from anything seen: once the smoothing window (5) holds only
    # them, the score is above the threshold (set above every smoothed training score).
    wild = normal.take(range(10))
    wild.metrics["temperature"][:] = 75.0
    wild.metrics["vibration"][:] = 5.0
    assert np.asarray(scorer.score(wild).anomaly)[4:].all()
    # Training the same file again gives a higher version, even within one second.
    again = train("--csv", path, "--out", out)
    assert again.returncode == 0, again.stderr
    assert OnnxScorer.from_path(out).version > scorer.version


def run_in_process(*argv: object) -> int:
    # cli.run directly, for options that need no fresh interpreter (and save seconds):
    # shared.cli.main would configure logging for the whole test session.
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(list(map(str, argv))))


def test_separator_and_type_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "semi.csv"
    rows = [f"{1609459200 + i},{i % 7};{i % 3}" for i in range(40)]
    path.write_text("\n".join(["when,x;y", *rows]), encoding="utf-8")
    out = tmp_path / "pump.onnx"
    assert run_in_process("--csv", path, "--csv-sep", ";", "--type", "pump", "--out", out) == 0
    assert field(capsys.readouterr().out, "type").startswith("pump ")
    scorer = OnnxScorer.from_path(out)
    assert scorer.sensor_type == "pump"
    assert scorer.meta.feature_names == ["y"]  # "when,x" is text with ";" as separator


def test_nearest_neighbour_model_with_scales_and_clipped_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_generated(tmp_path / "press.csv")
    out = tmp_path / "knn.onnx"
    argv = ["--csv", path, "--detector", "knn", "--lags", 1, 2, 3, 4, 5, "--scales", 3, 6]
    argv += ["--adaptive", 3, 0.001, 50, "--clip", 3, "--smooth", 1, "--out", out]
    assert run_in_process(*argv) == 0
    printed = capsys.readouterr().out
    assert "knn  (references 600, scales [3, 6])" in field(printed, "detector")
    assert "clipped at 3 sd" in field(printed, "threshold")
    scorer = OnnxScorer.from_path(out)
    assert scorer.meta.detector == "knn" and scorer.meta.policy.clip == 3.0
    assert scorer.meta.scales == [3, 6] and scorer.meta.format == "edgewatch.model/3"
    pca = tmp_path / "pca.onnx"
    argv = ["--csv", path, "--detector", "pca", "--univariate", "--margin", 1, "--out", pca]
    assert run_in_process(*argv) == 0
    assert OnnxScorer.from_path(pca).meta.univariate is True


def one_line_error(returncode: int, stdout: str, stderr: str) -> str:
    lines = stderr.splitlines()
    assert returncode == 2 and len(lines) == 1, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert lines[0].startswith("edgewatch train: ")
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    good = write_generated(tmp_path / "good.csv", rows=20)
    text = tmp_path / "text.csv"
    text.write_text("timestamp,name\n2021-01-01,a\n2021-01-02,b\n", encoding="utf-8")
    single = tmp_path / "single.csv"
    single.write_text("timestamp,a\n1609459200,1.5\n", encoding="utf-8")
    out = tmp_path / "m.onnx"
    cases: list[tuple[str, list[str | Path]]] = [
        ("cannot read CSV", ["--csv", tmp_path / "missing.csv"]),
        ("cannot read CSV", ["--csv", tmp_path]),  # a folder
        ("no numeric metric column", ["--csv", text]),
        ("has 1 good row(s) (none skipped); training needs at least 2", ["--csv", single]),
        ("does not exist", ["--csv", good, "--out", tmp_path / "nowhere" / "m.onnx"]),
        ("unknown --tier 'low'; one of medium, high", ["--csv", good, "--tier", "low"]),
    ]
    # The real command, all cases at once: each pays for importing scikit-learn.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgewatch.shared.cli", "train", *map(str, argv)]
            + ([] if "--out" in argv else ["--out", str(out)]),
            cwd=REPO_ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _, argv in cases
    ]
    for (expected, _), proc in zip(cases, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=120)
        assert expected in one_line_error(proc.returncode, stdout, stderr)
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--out", "m.bin"], "must end in .onnx"),
        (["--out", "."], "must end in .onnx"),
        (["--out", "folder.onnx"], "is a folder"),
        (["--type", "two words"], "--type 'two words'"),
        (["--rows", "1"], "--rows must be >= 2"),
        (["--version", "0"], "--version must be >= 1"),
        (["--smooth", "0"], "--smooth must be >= 1"),
        (["--quantile", "1.5"], "--quantile must be in [0, 1]"),
        (["--margin", "nan"], "--margin must be a number >= 0"),
        (["--seed", "-1"], "--seed must be in [0, 2**32)"),
        (["--clip", "3"], "--clip needs --adaptive"),
        (["--adaptive", "3", "0.01", "10", "--clip", "0"], "--clip needs --adaptive and C > 0"),
        (["--univariate"], "--univariate is a pca option"),
        (["--scales", "5"], "--scales is a knn option"),
        (["--detector", "knn", "--scales", "5", "5", "--lags", "1"], "--scales must be distinct"),
        (["--detector", "knn", "--scales", "5"], "--scales needs --lags"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: list[str],
    expected: str,
) -> None:
    good = write_generated(tmp_path / "good.csv", rows=20)
    (tmp_path / "folder.onnx").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = ["--csv", good, "--out", "m.onnx", *option]  # a later --out wins
    code = run_in_process(*argv)
    captured = capsys.readouterr()
    assert expected in one_line_error(code, captured.out, captured.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx", "good.csv"]
