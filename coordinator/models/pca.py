"""The PCA detector: Hotelling's T² and the squared prediction error Q (SPE).

Fitted on standardised training features: the principal components explaining
``variance`` of the training variance span the *normal subspace*. For a reading ``z``
(standardised, centred), ``t = z Pᵀ`` are its scores there, ``T² = Σ t²/λ`` measures how
far it lies inside the subspace (unusual combinations of usual directions) and
``Q = ‖z − t P‖²`` how far off it (a correlation that broke). Each is divided by its
training 99th percentile and the larger is the score, so 1.0 means "as odd as the
oddest 1 % of training". The classic multivariate process-monitoring detector and the
SKAB leaderboard's T²+Q entry; as a graph it is two MatMuls and a few element-wise nodes.

``univariate`` adds a third part: the largest squared z-score of a single feature,
``max_j z_j²``, over its training 99th percentile (a Shewhart chart on every feature at
once). T² sums squares over every retained direction, so one metric far off its
training range is diluted among 30 ordinary ones (a flow 6 σ low scores like the
chi-square noise of 32 features); the per-feature maximum is not. On SKAB it is what
finds the valve faults that only move one reading (``docs/models.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgewatch.coordinator.models.scaling import Standardiser, reference_level
from edgewatch.shared.readings import FloatArray

MIN_EIGENVALUE = 1e-9  # relative to the largest: directions below it carry no variance


@dataclass(frozen=True, slots=True)
class PcaDetector:
    scaling: Standardiser
    centre: FloatArray  # PCA mean of the standardised data (~0)
    components: FloatArray  # (k, F), rows orthonormal
    eigenvalues: FloatArray  # (k,)
    t2_ref: float
    q_ref: float
    z_ref: float | None = None  # univariate part (None: T² and Q only)
    kind: str = "pca"

    def parts(self, features: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(T², Q)`` per row, unscaled."""
        z = self.scaling(features, self.centre)
        t = z @ self.components.T
        t2 = np.sum(t * t / self.eigenvalues, axis=1)
        r = z - t @ self.components
        return t2, np.sum(r * r, axis=1)

    def largest_z2(self, features: FloatArray) -> FloatArray:
        """``max_j z_j²`` per row: the most unusual single feature."""
        z = self.scaling(features, self.centre)
        return np.asarray(np.max(z * z, axis=1))

    def scores(self, features: FloatArray) -> FloatArray:
        t2, q = self.parts(features)
        score = np.maximum(t2 / self.t2_ref, q / self.q_ref)
        if self.z_ref is not None:
            score = np.maximum(score, self.largest_z2(features) / self.z_ref)
        return np.asarray(score)

    def training_scores(self, features: FloatArray) -> FloatArray:
        return self.scores(features)

    def meta_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"components": len(self.eigenvalues)}
        if self.z_ref is not None:
            out["univariate"] = True
        return out


def fit_pca(features: FloatArray, *, variance: float, univariate: bool = False) -> PcaDetector:
    """Fit on ``features``; keep the components explaining ``variance`` (0 < v <= 1);
    ``univariate`` adds the per-feature part (see the module docstring)."""
    from sklearn.decomposition import PCA

    if not 0 < variance <= 1:
        raise ValueError(f"variance must be in (0, 1], not {variance}")
    scaling = Standardiser.fit(features)
    z = scaling(features)
    pca = PCA(n_components=None, svd_solver="full").fit(z)
    eigen = np.asarray(pca.explained_variance_, dtype=np.float64)
    keep = eigen > MIN_EIGENVALUE * max(float(eigen.max(initial=0.0)), 1e-300)
    ratio = np.cumsum(eigen) / max(float(eigen.sum()), 1e-300)
    k = int(np.searchsorted(ratio, variance - 1e-12) + 1)
    k = max(1, min(k, int(keep.sum()) or 1))
    detector = PcaDetector(
        scaling=scaling,
        centre=np.asarray(pca.mean_, dtype=np.float64),
        components=np.ascontiguousarray(pca.components_[:k], dtype=np.float64),
        eigenvalues=np.maximum(eigen[:k], 1e-12),
        t2_ref=1.0,
        q_ref=1.0,
    )
    t2, q = detector.parts(features)
    return PcaDetector(
        scaling,
        detector.centre,
        detector.components,
        detector.eigenvalues,
        t2_ref=reference_level(t2),
        q_ref=reference_level(q),
        z_ref=reference_level(detector.largest_z2(features)) if univariate else None,
    )
