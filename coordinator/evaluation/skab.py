"""The SKAB outlier-detection protocol, run on our model and on the published baseline.

Per labelled file: train on the first 400 rows, predict the rest; predictions of all
files are concatenated and scored with F1, FAR = FP / (FP + TN) and MAR = FN / (FN + TP).

*Ours* goes through exactly what ``edgewatch train`` and the agent run: the file read by
``shared.csvfile`` (CSV replay's reader), ``train_table`` on its first rows, export to
the ONNX model file, ``OnnxScorer`` loaded from its bytes, the whole file
streamed through it in micro-batches (training rows first, so the per-sensor windows are
warm, as they would be on a live agent). Everything used at test time is causal: the
scaler, forest, threshold and calibration come from the training rows only, features and
smoothing look at past readings only, labels are read only to count.

*Baseline* is the published one: ``IsolationForest(random_state=0,
contamination=0.0005)`` on the raw metrics, its verdicts smoothed by a rolling median
over 3 rows (over the whole file, so the first test rows see the last training rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

from edgewatch.coordinator.models.export import to_onnx
from edgewatch.coordinator.models.trainer import (
    RECIPE_SMOOTH,
    RECIPE_THRESHOLD,
    ThresholdPolicy,
    TrainConfig,
    train_table,
)
from edgewatch.shared.csvfile import CsvTable, read_csv
from edgewatch.shared.features import FeatureSpec, compute_features, metric_matrix
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import BoolArray
from edgewatch.shared.runtime import OnnxScorer

SENSOR_TYPE = "skab"
PUBLISHED = {"baseline": {"f1": 0.29, "far": 0.0256, "mar": 0.8289}, "best": {"f1": 0.78}}


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of verdicts against labels; ``+`` pools them."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @staticmethod
    def of(truth: BoolArray, predicted: BoolArray) -> Confusion:
        return Confusion(
            tp=int((predicted & truth).sum()),
            fp=int((predicted & ~truth).sum()),
            tn=int((~predicted & ~truth).sum()),
            fn=int((~predicted & truth).sum()),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn
        )

    def figures(self) -> dict[str, float | int]:
        def ratio(a: int, b: int) -> float:
            return a / b if b else 0.0

        return {
            "f1": ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn),
            "far": ratio(self.fp, self.fp + self.tn),
            "mar": ratio(self.fn, self.fn + self.tp),
            **asdict(self),
        }


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """Our model's recipe (defaults: the trainer's, recorded in docs/models.md)."""

    train_rows: int = 400
    n_trees: int = 100
    window: int = 1
    stats: tuple[str, ...] = ()
    smooth: int = RECIPE_SMOOTH
    quantile: float = RECIPE_THRESHOLD.quantile
    margin: float = RECIPE_THRESHOLD.margin
    batch: int = 50
    random_state: int = 0

    def train_config(self) -> TrainConfig:
        policy = ThresholdPolicy("quantile", quantile=self.quantile, margin=self.margin)
        return TrainConfig(
            n_trees=self.n_trees,
            threshold=policy,
            smooth=self.smooth,
            random_state=self.random_state,
        )


@dataclass(frozen=True, slots=True)
class Report:
    files: int
    test_rows: int
    ours: Confusion
    baseline: Confusion
    parity: Parity
    seconds: float
    config: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": "skab",
            "protocol": f"per file: train on rows [0, {self.config.train_rows}), test on the rest",
            "files": self.files,
            "test_rows": self.test_rows,
            "ours": {**self.ours.figures(), "config": asdict(self.config)},
            "baseline": self.baseline.figures(),
            "parity_vs_sklearn": asdict(self.parity),
            "published": PUBLISHED,
            "seconds": round(self.seconds, 2),
        }


def labelled_files(root: Path) -> Iterable[tuple[Path, CsvTable]]:
    """Every CSV under ``root`` (recursively, sorted) that has an ``anomaly`` column."""
    for path in sorted(root.rglob("*.csv")):
        table = read_csv(path)
        if table.labelled:
            yield path, table


@dataclass(frozen=True, slots=True)
class Parity:
    """ONNX vs scikit-learn on the same features: worst score gap, verdicts that differ."""

    max_abs_diff: float = 0.0
    label_mismatches: int = 0

    def __add__(self, other: Parity) -> Parity:
        return Parity(
            max(self.max_abs_diff, other.max_abs_diff),
            self.label_mismatches + other.label_mismatches,
        )


def predict_ours(table: CsvTable, config: EvalConfig) -> tuple[BoolArray, Parity]:
    """Verdicts on the whole file from a model trained on its first rows, via ONNX.

    Also checks the graph against scikit-learn on this file's features (unsmoothed, so
    the two are comparable row by row) and counts differing verdicts at ``score > 0``.
    """
    batch = table.to_batch(SENSOR_TYPE)
    spec = FeatureSpec(table.metric_names, window=config.window, stats=config.stats)
    trained = train_table(
        table,
        config.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=spec,
        rows=config.train_rows,
        version=1,
    )
    scorer = OnnxScorer(read_model_bytes(to_onnx(trained).SerializeToString()))
    features = compute_features(batch, trained.spec)
    onnx_score = scorer.score_features(features)
    sk_score = -trained.decision_function(features)
    parity = Parity(
        float(np.abs(onnx_score - sk_score).max()),
        int(((onnx_score > 0) != (sk_score > 0)).sum()),
    )
    verdicts = [
        scorer.score(batch.take(range(start, min(start + config.batch, len(batch))))).anomaly
        for start in range(0, len(batch), config.batch)
    ]
    return np.concatenate(verdicts), parity


def predict_baseline(table: CsvTable, train_rows: int) -> BoolArray:
    """The published baseline's verdicts on the whole file."""
    x = metric_matrix(table.to_batch(SENSOR_TYPE), table.metric_names)
    model = IsolationForest(random_state=0, contamination=0.0005).fit(x[:train_rows])
    raw: BoolArray = np.asarray(model.predict(x)) == -1
    # rolling(3).median() of 0/1 verdicts is a majority vote; the first two rows are 0.
    smoothed = np.zeros_like(raw)
    smoothed[2:] = (raw[2:].astype(int) + raw[1:-1] + raw[:-2]) >= 2
    return smoothed


def evaluate(
    root: Path, config: EvalConfig, progress: Callable[[str], None] | None = None
) -> Report:
    """Run the protocol on every labelled file under ``root``."""
    started = time.perf_counter()
    ours = baseline = Confusion()
    parity = Parity()
    files = rows = 0
    for path, table in labelled_files(root):
        if len(table) <= config.train_rows:
            if progress:
                progress(f"skip {path}: {len(table)} rows, need > {config.train_rows}")
            continue
        truth = np.array([bool(v) for v in table.label])[config.train_rows :]
        predicted, file_parity = predict_ours(table, config)
        ours += Confusion.of(truth, predicted[config.train_rows :])
        parity += file_parity
        baseline += Confusion.of(
            truth, predict_baseline(table, config.train_rows)[config.train_rows :]
        )
        files += 1
        rows += len(truth)
        if progress:
            progress(f"[{files}] {path}: ours F1 {ours.figures()['f1']:.3f} so far")
    return Report(files, rows, ours, baseline, parity, time.perf_counter() - started, config)
