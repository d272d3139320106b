"""Standardisation shared by the PCA and autoencoder detectors, folded into their graphs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewatch.shared.readings import FloatArray


@dataclass(frozen=True, slots=True)
class Standardiser:
    """``z = x · inv_scale − shift``: the form the graph computes (one Mul, one Sub).

    ``scale`` is the training std, with 1 for a constant column (as scikit-learn does).
    """

    mean: FloatArray
    scale: FloatArray

    @staticmethod
    def fit(x: FloatArray) -> Standardiser:
        scale = np.std(x, axis=0)
        return Standardiser(np.mean(x, axis=0), np.where(scale > 0, scale, 1.0))

    @property
    def inv_scale(self) -> FloatArray:
        return np.asarray(1.0 / self.scale)

    def shift(self, centre: FloatArray | None = None) -> FloatArray:
        """The constant subtracted after scaling, with an extra centre folded in."""
        base = self.mean * self.inv_scale
        return np.asarray(base if centre is None else base + centre)

    def __call__(self, x: FloatArray, centre: FloatArray | None = None) -> FloatArray:
        return np.asarray(x * self.inv_scale - self.shift(centre))


def reference_level(scores: FloatArray, quantile: float = 0.99) -> float:
    """The training score a detector's output is divided by (1.0 = its 99th percentile)."""
    return max(float(np.quantile(scores, quantile)), 1e-12)
