"""The offline evaluation of a new model on its held-back slice, through the agent's code.

The model file's bytes go through ``shared.runtime.OnnxScorer`` (features, session,
smoothing, threshold policy), exactly as an agent would score the readings, in time
order. Figures: the anomaly rate, 21 score quantiles (the reference the quality gate
compares a canary's scores with) and, when readings carry labels, precision, recall
and F1 against them.
"""

from __future__ import annotations

import numpy as np

from edgewatch.coordinator.store.model_records import Evaluation
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.runtime import OnnxScorer

QUANTILES = 21
CHUNK = 500  # the agent's default micro-batch


def evaluate(data: bytes, held: ReadingBatch) -> Evaluation | None:
    """None when nothing was held back."""
    n = len(held)
    if n == 0:
        return None
    scorer = OnnxScorer(read_model_bytes(data))
    parts = [scorer.score(held.take(np.arange(i, min(n, i + CHUNK)))) for i in range(0, n, CHUNK)]
    score = np.concatenate([p.score for p in parts])
    anomaly = np.concatenate([p.anomaly for p in parts])
    finite = score[np.isfinite(score)]
    quantiles = (
        np.quantile(finite, np.linspace(0.0, 1.0, QUANTILES))
        if len(finite)
        else np.zeros(QUANTILES)
    )
    labelled = np.array([lbl is not None for lbl in held.label], dtype=np.bool_)
    figures = _f1(
        anomaly[labelled], np.array([lbl == 1 for lbl in held.label], dtype=np.bool_)[labelled]
    )
    return Evaluation(
        rows=n,
        anomaly_rate=float(np.mean(anomaly)),
        score_quantiles=tuple(float(q) for q in quantiles),
        labelled=int(np.count_nonzero(labelled)),
        **figures,
    )


def _f1(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    if not len(truth):
        return {"f1": None, "precision": None, "recall": None}
    tp = int(np.count_nonzero(predicted & truth))
    fp = int(np.count_nonzero(predicted & ~truth))
    fn = int(np.count_nonzero(~predicted & truth))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {"f1": f1, "precision": precision, "recall": recall}
