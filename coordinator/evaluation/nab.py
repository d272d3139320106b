"""``edgewatch eval nab``: the Numenta Anomaly Benchmark's protocol, our model and NAB's
windowed Gaussian baseline in the same run.

Per file (every key of the windows file, a path relative to the corpus folder): the
file is read by ``shared.csvfile`` (CSV replay's reader); our model is trained on the
probationary period only (the first ``min(floor(0.15 n), 750)`` records, which NAB lets
a detector learn from and never scores), exported to the ONNX model file, loaded into
``OnnxScorer`` and the *whole* file is streamed through it once, in order, in
micro-batches: every verdict is causal (features, smoothing and the adaptive threshold
look at past readings only). Its verdicts are NAB's detections. The baseline is NAB's
windowed Gaussian (``nab_gaussian``) at NAB's threshold for it. Both are scored by
``nab_scoring`` under NAB's three profiles.

Hyperparameters are chosen by leave one category out (NAB's folders: artificial,
AWS CloudWatch, known cause, traffic): for each category, the candidate with the best
standard-profile score on the *other* categories is chosen and scored on it; the
held-out raw scores, pooled and normalised, are the honest figure (``validation``). The
fixed recipe (``recipe.NAB_RECIPE``) is reported on the whole corpus beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewatch.coordinator.evaluation.nab_gaussian import windowed_gaussian_detections
from edgewatch.coordinator.evaluation.nab_scoring import (
    PROFILES,
    CorpusScore,
    FileScore,
    Windows,
    normalise,
    probation_length,
    score_file,
)
from edgewatch.coordinator.evaluation.recipe import NAB_CANDIDATES, NAB_RECIPE, Recipe
from edgewatch.coordinator.evaluation.skab import stream
from edgewatch.coordinator.models.export import to_onnx
from edgewatch.coordinator.models.trainer import train_table
from edgewatch.shared.csvfile import CsvTable, parse_time, read_csv
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import BoolArray
from edgewatch.shared.runtime import OnnxScorer

SENSOR_TYPE = "nab"
BATCH = 100
WINDOWS_FILE = "combined_windows.json"
PROTOCOL = (
    "NAB: each file streamed once in order; the detector learns from the probationary "
    "period (first min(floor(0.15 n), 750) records, not scored); scaled-sigmoid scoring "
    "under the standard, reward_low_FP_rate and reward_low_FN_rate profiles; normalised "
    "so the null detector scores 0 and the perfect detector 100"
)
VALIDATION = (
    "leave one category out: for each NAB folder, the candidate with the best standard "
    "score on the other folders is chosen and scored on the held-out folder"
)
PUBLISHED = {
    "subset_by_nab_runner": {
        "windowed_gaussian": {
            "standard": 27.70,
            "reward_low_FP_rate": 15.98,
            "reward_low_FN_rate": 32.59,
        },
        "relative_entropy": {"standard": 57.33},
        "knn_cad": {"standard": 55.76},
        "null": {"standard": 0.0},
    },
    "whole_corpus": {"numenta_htm": 70.5, "windowed_gaussian": 39.6},
}


@dataclass(frozen=True, slots=True)
class NabFile:
    key: str  # path relative to the corpus folder, as in the windows file
    table: CsvTable
    windows: Windows

    @property
    def category(self) -> str:
        return self.key.split("/")[0] if "/" in self.key else ""

    @property
    def values(self) -> np.ndarray:
        return self.table.metrics[self.table.metric_names[0]]


def load_corpus(root: Path, windows_path: Path | None = None) -> tuple[list[NabFile], list[str]]:
    """The files the windows file names that exist under ``root``, and the missing keys."""
    path = windows_path or root / WINDOWS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read NAB windows {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"NAB windows {path}: expected an object of file -> windows")
    files, missing = [], []
    for key in sorted(raw):
        data = root / key
        if not data.is_file():
            missing.append(key)
            continue
        table = read_csv(data)
        if not table.timed:
            raise ConfigError(f"{data}: NAB files need a timestamp column")
        limits = [_limits(path, key, w) for w in raw[key]]
        files.append(NabFile(key, table, Windows.of(table.ts, limits)))
    return files, missing


def _limits(path: Path, key: str, window: object) -> tuple[float, float]:
    if isinstance(window, list) and len(window) == 2:
        start, end = (parse_time(str(t)) for t in window)
        if start is not None and end is not None:
            return start, end
    raise ConfigError(f"NAB windows {path}: {key}: bad window {window!r}")


def detect_ours(table: CsvTable, recipe: Recipe) -> BoolArray:
    """Our verdicts on a whole file, trained on its probationary period, via ONNX.

    The probationary records warm the scorer's windows (``OnnxScorer.warm``) and are
    not judged (NAB never scores them); every record after them is, in micro-batches.
    """
    rows = max(probation_length(len(table)), 2)
    trained = train_table(
        table,
        recipe.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=recipe.spec(table.metric_names),
        rows=rows,
        version=1,
    )
    scorer = OnnxScorer(read_model_bytes(to_onnx(trained).SerializeToString()))
    batch = table.to_batch(SENSOR_TYPE)
    scorer.warm(batch.take(range(rows)))
    judged = stream(scorer, batch.take(range(rows, len(batch))), BATCH)
    return np.concatenate([np.zeros(rows, dtype=np.bool_), judged])


Scores = dict[str, list[FileScore]]  # profile -> one FileScore per file


def score_all(files: Sequence[NabFile], detections: Sequence[BoolArray]) -> Scores:
    return {
        p.name: [score_file(d, f.windows, p) for f, d in zip(files, detections, strict=True)]
        for p in PROFILES
    }


def corpus(scores: Scores, pick: Callable[[int], bool] = lambda _: True) -> dict[str, CorpusScore]:
    return {
        p.name: normalise([s for i, s in enumerate(scores[p.name]) if pick(i)], p) for p in PROFILES
    }


def leave_one_category_out(
    files: Sequence[NabFile], scored: Mapping[Recipe, Scores]
) -> dict[str, object]:
    categories = [f.category for f in files]
    folds, pooled = [], {p.name: [] for p in PROFILES}  # type: ignore[var-annotated]
    for held in sorted(set(categories)):
        dev = {
            r: corpus(s, lambda i, held=held: categories[i] != held)["standard"].score  # type: ignore[misc]
            for r, s in scored.items()
        }
        chosen = max(dev, key=lambda r: dev[r])
        for p in PROFILES:
            pooled[p.name] += [
                s for i, s in enumerate(scored[chosen][p.name]) if categories[i] == held
            ]
        test = corpus(scored[chosen], lambda i, held=held: categories[i] == held)  # type: ignore[misc]
        folds.append(
            {
                "held_out": held,
                "chosen": chosen.name,
                "dev_standard": round(dev[chosen], 2),
                "held_out_standard": round(test["standard"].score, 2),
            }
        )
    held_out = {p.name: round(normalise(pooled[p.name], p).score, 2) for p in PROFILES}
    overall = max(scored, key=lambda r: corpus(scored[r])["standard"].score)
    return {
        "protocol": VALIDATION,
        "candidates": len(scored),
        "folds": folds,
        "held_out_pooled": held_out,
        "criterion_on_all_categories": overall.name,
    }


def evaluate(
    root: Path,
    *,
    windows: Path | None = None,
    recipe: Recipe = NAB_RECIPE,
    candidates: Sequence[Recipe] | None = NAB_CANDIDATES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """The whole run as one JSON-ready object (see the module docstring)."""
    started = time.perf_counter()
    files, missing = load_corpus(root, windows)
    if not files:
        raise ConfigError(f"no file named by the NAB windows is under {root}")
    recipes = list(candidates or [])
    if recipe not in recipes:
        recipes.append(recipe)
    scored: dict[Recipe, Scores] = {}
    for i, r in enumerate(recipes, start=1):
        scored[r] = score_all(files, [detect_ours(f.table, r) for f in files])
        if progress:
            progress(
                f"[{i}/{len(recipes)}] {r.name}: standard {corpus(scored[r])['standard'].score:.2f}"
            )
    baseline = score_all(files, [windowed_gaussian_detections(f.values) for f in files])
    ours, base = corpus(scored[recipe]), corpus(baseline)
    categories = {f.category for f in files}
    validation = (
        leave_one_category_out(files, {r: scored[r] for r in candidates})
        if candidates and len(categories) > 1
        else None
    )
    return {
        "dataset": "nab",
        "protocol": PROTOCOL,
        "files": len(files),
        "windows": sum(len(f.windows) for f in files),
        "records": sum(len(f.table) for f in files),
        "missing_files": missing,
        "ours": {
            "recipe": recipe.to_dict(),
            **{k: v.to_dict() for k, v in ours.items()},
        },
        "baseline": {"detector": "windowed_gaussian", **{k: v.to_dict() for k, v in base.items()}},
        "ratio_vs_baseline": {
            k: round(ours[k].score / base[k].score, 3) if base[k].score else None for k in ours
        },
        "validation": validation,
        "per_file": [_file_row(f, i, scored[recipe], baseline) for i, f in enumerate(files)],
        "published": PUBLISHED,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _file_row(f: NabFile, i: int, ours: Scores, base: Scores) -> dict[str, object]:
    def part(s: FileScore) -> dict[str, object]:
        return {
            "raw": round(s.raw, 4),
            "detected": s.detected,
            "missed": s.missed,
            "false_positives": s.false_positives,
        }

    return {
        "file": f.key,
        "records": len(f.table),
        "windows": len(f.windows),
        "ours_standard": part(ours["standard"][i]),
        "baseline_standard": part(base["standard"][i]),
    }
