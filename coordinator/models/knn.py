"""The nearest-neighbour detector: how far the recent shape is from every shape seen in
training, at several time scales.

Training keeps (a bounded, evenly spaced subset of) the standardised training feature
vectors as *references*. A reading's score at one *scale* is the Euclidean distance of
its feature vector, restricted to that scale's columns, to the nearest reference, over
the training 99th percentile of the same distance (each training row measured against
the others: leave one out, so training scores look like those of unseen data). The
score is the largest over the scales. With lagged features (``lags`` 1..19) a scale of
``s`` readings looks at the current reading and the ``s - 1`` before it, so one model
judges a blip (5 readings), a bump (10) and a slower shape (20) at once.

Unlike a PCA or a forest it keeps no summary of normal data, only examples, so it needs
no assumption about their shape: a daily spike seen twice in training is a known shape
however large it is (what the windowed statistics of NAB's AWS files keep flagging), a
new shape is far from all of them. The cost is the references: the graph is one
``Gemm`` and one ``ReduceMin`` per scale against at most ``max_references`` rows
(``coordinator.models.graphs.knn_graph``), a few hundred KiB at most.

The distance is computed as the graph computes it, ``|t|² − 2 z·t`` minimised over the
references plus ``|z|²``, clamped at 0, square-rooted: the numpy reference and the graph
agree to float64 rounding (a few 1e-8 at most, where the distance is near 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgewatch.coordinator.models.scaling import Standardiser, reference_level
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.readings import FloatArray

MAX_REFERENCES = 1000
REFERENCE_BYTES = 768 * 1024  # the reference matrices' share of a model file under 1 MB
BLOCK = 1024  # rows of a distance matrix computed at once while training


@dataclass(frozen=True, slots=True)
class Scale:
    """One scale: which feature columns it reads, and its references there."""

    columns: tuple[int, ...]
    neg_twice_t: FloatArray  # (len(columns), M): -2 × the references' columns, transposed
    norms: FloatArray  # (M,): squared norm of each reference on these columns
    ref: float  # training 99th percentile of the leave-one-out distance


@dataclass(frozen=True, slots=True)
class KnnDetector:
    scaling: Standardiser
    scales: tuple[Scale, ...]
    lengths: tuple[int, ...]  # the readings each scale looks at (() = one scale, all columns)
    references: int
    kind: str = "knn"

    def distances(self, features: FloatArray) -> FloatArray:
        """``(n, scales)``: each row's distance to its nearest reference, per scale."""
        z = self.scaling(features)
        return np.column_stack([_nearest(z[:, s.columns], s) for s in self.scales])

    def scores(self, features: FloatArray) -> FloatArray:
        refs = np.array([s.ref for s in self.scales])
        return np.asarray(np.max(self.distances(features) * (1.0 / refs), axis=1))

    def training_scores(self, features: FloatArray) -> FloatArray:
        """The training rows' scores with each row's own reference left out."""
        z = self.scaling(features)
        index = reference_rows(len(features), self.references)
        parts = [_nearest(z[:, s.columns], s, exclude=index) / s.ref for s in self.scales]
        return np.asarray(np.max(np.column_stack(parts), axis=1))

    def meta_fields(self) -> dict[str, Any]:
        return {"references": self.references, "scales": list(self.lengths)}


def _nearest(z: FloatArray, scale: Scale, exclude: FloatArray | None = None) -> FloatArray:
    """Distance of each row of ``z`` to its nearest reference (the graph's arithmetic).

    ``exclude[i]`` is the reference that row ``i`` itself is (-1: none), left out.
    """
    out = np.empty(len(z))
    for start in range(0, len(z), BLOCK):
        block = z[start : start + BLOCK]
        g = block @ scale.neg_twice_t + scale.norms
        if exclude is not None:
            own = exclude[start : start + BLOCK]
            rows = np.flatnonzero(own >= 0)
            g[rows, own[rows].astype(np.intp)] = np.inf
        d2 = np.min(g, axis=1) + np.sum(block * block, axis=1)
        out[start : start + BLOCK] = np.sqrt(np.maximum(d2, 0.0))
    return out


def reference_rows(n: int, references: int) -> FloatArray:
    """For each of ``n`` training rows, its index among the references, or -1.

    The references are ``references`` rows spread evenly over the training rows (all of
    them when there are few enough), so every part of the training period is covered.
    """
    out = np.full(n, -1.0)
    chosen = np.unique(np.linspace(0, n - 1, references).round().astype(np.intp))
    out[chosen] = np.arange(len(chosen))
    return out


def scale_columns(spec: FeatureSpec, lengths: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """Columns of each scale: the current reading's features and the lags shorter than it.

    ``lengths`` empty means one scale over every column.
    """
    if not lengths:
        return (tuple(range(len(spec.names))),)
    current = len(spec.metrics) * (1 + len(spec.stats))
    m = len(spec.metrics)
    out = []
    for length in lengths:
        lagged = [
            current + i * m + j for i, lag in enumerate(spec.lags) if lag < length for j in range(m)
        ]
        out.append(tuple(range(current)) + tuple(lagged))
    return tuple(out)


def fit_knn(
    features: FloatArray,
    *,
    spec: FeatureSpec,
    lengths: Sequence[int],
    max_references: int = MAX_REFERENCES,
) -> KnnDetector:
    """References from ``features`` (columns ``spec.names``), one scale per length."""
    if any(length < 1 for length in lengths) or len(set(lengths)) != len(lengths):
        raise ValueError(f"scales must be distinct lengths >= 1: {tuple(lengths)}")
    if lengths and not spec.lags:
        raise ValueError("scales select lagged values: the feature spec has no lags")
    if max_references < 2:
        raise ValueError("a nearest-neighbour detector needs at least 2 references")
    columns = scale_columns(spec, lengths)
    scaling = Standardiser.fit(features)
    z = scaling(features)
    width = sum(len(c) + 1 for c in columns)
    budget = max(2, REFERENCE_BYTES // (8 * width))
    index = reference_rows(len(features), min(max_references, budget, len(features)))
    picked = z[index >= 0]
    scales = []
    for cols in columns:
        t = picked[:, cols]
        bare = Scale(cols, np.ascontiguousarray(-2.0 * t.T), np.sum(t * t, axis=1), 1.0)
        held_out = _nearest(z[:, cols], bare, exclude=index)
        scales.append(Scale(cols, bare.neg_twice_t, bare.norms, reference_level(held_out)))
    return KnnDetector(scaling, tuple(scales), tuple(lengths), len(picked))
