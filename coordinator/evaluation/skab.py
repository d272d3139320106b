"""The SKAB outlier-detection protocol, run on our model and on the published baseline.

Per labelled file: train on the first 400 rows, predict the rest; predictions of all
files are concatenated and scored with F1, FAR = FP / (FP + TN) and MAR = FN / (FN + TP).

*Ours* goes through exactly what ``edgewatch train`` and the agent run: the file read by
``shared.csvfile`` (CSV replay's reader), ``train_table`` on its first rows, export to
the ONNX model file, ``OnnxScorer`` loaded from its bytes, the whole file
streamed through it in micro-batches (training rows first, so the per-sensor windows are
warm, as they would be on a live agent). Everything used at test time is causal: the
detector, threshold and calibration come from the training rows only, features and
smoothing look at past readings only, labels are read only to count.

The recipe is fixed (``recipe.SKAB_RECIPE``), chosen by the validation protocol of
``validation`` (leave one group out), which this module's ``evaluate`` re-runs and
reports beside it.

*Baseline* is the published one: ``IsolationForest(random_state=0,
contamination=0.0005)`` on the raw metrics, its verdicts smoothed by a rolling median
over 3 rows (over the whole file, so the first test rows see the last training rows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

from edgewatch.coordinator.evaluation.confusion import Confusion
from edgewatch.coordinator.evaluation.recipe import SKAB_CANDIDATES, SKAB_RECIPE, Recipe
from edgewatch.coordinator.evaluation.validation import Validation, leave_one_group_out
from edgewatch.coordinator.models.export import to_onnx
from edgewatch.coordinator.models.trainer import train_table
from edgewatch.shared.csvfile import CsvTable, read_csv
from edgewatch.shared.features import compute_features, metric_matrix
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.progress import Step
from edgewatch.shared.readings import BoolArray, ReadingBatch
from edgewatch.shared.runtime import OnnxScorer

__all__ = ["Confusion", "EvalConfig", "Report", "evaluate", "predict_baseline", "predict_ours"]

SENSOR_TYPE = "skab"
PUBLISHED = {
    "baseline": {"f1": 0.29, "far": 0.0256, "mar": 0.8289},
    "best": {"model": "Conv-AE", "f1": 0.78, "far": 0.1355, "mar": 0.2802},
}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """The protocol's knobs and the recipe it scores (default: the fixed one)."""

    train_rows: int = 400
    batch: int = 50
    recipe: Recipe = SKAB_RECIPE


@dataclass(frozen=True, slots=True)
class SkabFile:
    path: Path
    group: str  # the top folder under the evaluated root (valve1, other)
    table: CsvTable

    @property
    def name(self) -> str:
        return f"{self.group}/{self.path.name}" if self.group else self.path.name

    def truth(self, train_rows: int) -> BoolArray:
        return np.array([bool(v) for v in self.table.label])[train_rows:]


@dataclass(frozen=True, slots=True)
class Parity:
    """ONNX vs the reference (scikit-learn, numpy) on the same features."""

    max_abs_diff: float = 0.0
    label_mismatches: int = 0

    def __add__(self, other: Parity) -> Parity:
        return Parity(
            max(self.max_abs_diff, other.max_abs_diff),
            self.label_mismatches + other.label_mismatches,
        )


@dataclass(frozen=True, slots=True)
class FileResult:
    name: str
    group: str
    test_rows: int
    ours: Confusion
    baseline: Confusion

    def to_dict(self) -> dict[str, object]:
        ours, base = self.ours.figures(), self.baseline.figures()
        return {
            "file": self.name,
            "test_rows": self.test_rows,
            "anomalous": self.ours.tp + self.ours.fn,
            "ours": {k: round(v, 4) if isinstance(v, float) else v for k, v in ours.items()},
            "baseline": {k: round(float(base[k]), 4) for k in ("f1", "far", "mar")},
        }


@dataclass(frozen=True, slots=True)
class Report:
    files: list[FileResult]
    parity: Parity
    seconds: float
    config: EvalConfig = field(default_factory=EvalConfig)
    validation: Validation | None = None

    @property
    def test_rows(self) -> int:
        return sum(f.test_rows for f in self.files)

    @property
    def ours(self) -> Confusion:
        return sum((f.ours for f in self.files), Confusion())

    @property
    def baseline(self) -> Confusion:
        return sum((f.baseline for f in self.files), Confusion())

    def to_dict(self) -> dict[str, object]:
        rows = self.config.train_rows
        return {
            "dataset": "skab",
            "protocol": f"per file: train on rows [0, {rows}), test on the rest; pooled",
            "files": len(self.files),
            "test_rows": self.test_rows,
            "ours": {**self.ours.figures(), "recipe": self.config.recipe.to_dict()},
            "baseline": self.baseline.figures(),
            "validation": self.validation.to_dict() if self.validation else None,
            "per_file": [f.to_dict() for f in self.files],
            "parity_vs_reference": asdict(self.parity),
            "published": PUBLISHED,
            "seconds": round(self.seconds, 2),
        }


def labelled_files(root: Path) -> list[SkabFile]:
    """Every CSV under ``root`` (recursively, sorted) that has an ``anomaly`` column."""
    out = []
    for path in sorted(root.rglob("*.csv")):
        table = read_csv(path)
        if table.labelled:
            parts = path.relative_to(root).parts
            out.append(SkabFile(path, parts[0] if len(parts) > 1 else "", table))
    return out


def predict_ours(table: CsvTable, config: EvalConfig) -> tuple[BoolArray, Parity]:
    """Verdicts on the whole file from a model trained on its first rows, via ONNX.

    Also checks the graph against the detector's reference on this file's features
    (unsmoothed, so the two are comparable row by row).
    """
    recipe = config.recipe
    batch = table.to_batch(SENSOR_TYPE)
    trained = train_table(
        table,
        recipe.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=recipe.spec(table.metric_names),
        rows=config.train_rows,
        version=1,
    )
    scorer = OnnxScorer(read_model_bytes(to_onnx(trained).SerializeToString()))
    features = compute_features(batch, trained.spec)
    onnx_score = scorer.score_features(features)
    reference = trained.reference_scores(features)
    cut = trained.threshold
    parity = Parity(
        float(np.abs(onnx_score - reference).max()),
        int(((onnx_score > cut) != (reference > cut)).sum()),
    )
    return stream(scorer, batch, config.batch), parity


def stream(scorer: OnnxScorer, batch: ReadingBatch, size: int) -> BoolArray:
    """The scorer's verdicts on ``batch`` fed in micro-batches of ``size``, in order."""
    verdicts = [
        scorer.score(batch.take(range(start, min(start + size, len(batch))))).anomaly
        for start in range(0, len(batch), size)
    ]
    return np.concatenate(verdicts) if verdicts else np.zeros(0, dtype=np.bool_)


def predict_baseline(table: CsvTable, train_rows: int) -> BoolArray:
    """The published baseline's verdicts on the whole file."""
    x = metric_matrix(table.to_batch(SENSOR_TYPE), table.metric_names)
    model = IsolationForest(random_state=0, contamination=0.0005).fit(x[:train_rows])
    raw: BoolArray = np.asarray(model.predict(x)) == -1
    # rolling(3).median() of 0/1 verdicts is a majority vote; the first two rows are 0.
    smoothed = np.zeros_like(raw)
    smoothed[2:] = (raw[2:].astype(int) + raw[1:-1] + raw[:-2]) >= 2
    return smoothed


def usable(files: Sequence[SkabFile], train_rows: int) -> list[SkabFile]:
    out = []
    for f in files:
        if len(f.table) > train_rows:
            out.append(f)
        else:
            log.warning("skipped %s: %d rows, need more than %d", f.path, len(f.table), train_rows)
    return out


def score_recipe(files: Sequence[SkabFile], config: EvalConfig) -> tuple[list[Confusion], Parity]:
    """Per-file confusion of ``config.recipe`` under the protocol."""
    parity = Parity()
    out = []
    for f in files:
        predicted, p = predict_ours(f.table, config)
        out.append(Confusion.of(f.truth(config.train_rows), predicted[config.train_rows :]))
        parity += p
    return out, parity


def evaluate(
    root: Path,
    config: EvalConfig | None = None,
    progress: Step | None = None,
    *,
    candidates: Sequence[Recipe] | None = SKAB_CANDIDATES,
) -> Report:
    """The protocol on every labelled file under ``root``, validation included.

    ``candidates=None`` skips the validation (only ``config.recipe`` is scored).
    """
    config = config or EvalConfig()
    started = time.perf_counter()
    files = usable(labelled_files(root), config.train_rows)
    recipes = list(candidates or [])
    if config.recipe not in recipes:
        recipes.append(config.recipe)
    scored: dict[Recipe, list[Confusion]] = {}
    parity = Parity()
    for i, recipe in enumerate(recipes, start=1):
        scored[recipe], p = score_recipe(files, EvalConfig(config.train_rows, config.batch, recipe))
        parity += p
        if progress:
            pooled = sum(scored[recipe], Confusion())
            progress(i, len(recipes), f"{recipe.name}: F1 {pooled.f1:.3f} FAR {pooled.far:.3f}")
    validation = None
    groups = [f.group for f in files]
    if candidates and len(set(groups)) > 1:
        per = {r: scored[r] for r in candidates}
        validation = leave_one_group_out(groups, per, fixed=config.recipe)
    results = [
        FileResult(
            f.name,
            f.group,
            len(f.table) - config.train_rows,
            ours,
            Confusion.of(
                f.truth(config.train_rows),
                predict_baseline(f.table, config.train_rows)[config.train_rows :],
            ),
        )
        for f, ours in zip(files, scored[config.recipe], strict=True)
    ]
    return Report(results, parity, time.perf_counter() - started, config, validation)
