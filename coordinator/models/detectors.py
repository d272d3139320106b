"""The detector kinds a sensor type's model can be, behind one contract.

A fitted detector maps a feature matrix (columns ``spec.names``) to one score per row,
higher = more anomalous, and knows how to become the ONNX graph the agent runs
(``export.to_onnx``). ``scores`` is the reference the graph is tested against:
scikit-learn's own output for the IsolationForest, numpy for PCA and the autoencoder.

========== ============================================= ==================================
kind       score                                         when
========== ============================================= ==================================
iforest    ``-decision_function`` of an IsolationForest  point anomalies, any shape of data
pca        ``max(T²/T²₉₉, Q/Q₉₉)`` of a PCA (T² + SPE)   correlated metrics, windowed data
autoencoder reconstruction MSE / its 99th percentile     non-linear structure, more data
========== ============================================= ==================================
"""

from __future__ import annotations

from typing import Any, Protocol

from edgewatch.shared.modelfile import DETECTORS
from edgewatch.shared.readings import FloatArray

__all__ = ["DETECTORS", "FittedDetector", "fit_detector"]


class FittedDetector(Protocol):
    """A trained detector: reference scores and what its model file records about it."""

    @property
    def kind(self) -> str:
        """``iforest``, ``pca`` or ``autoencoder``."""
        ...

    def scores(self, features: FloatArray) -> FloatArray:
        """One score per row of ``features`` (the graph's output, computed without ONNX)."""
        ...

    def meta_fields(self) -> dict[str, Any]:
        """Fields of ``ModelMeta`` particular to this detector."""
        ...


def fit_detector(kind: str, features: FloatArray, config: Any) -> FittedDetector:
    """Fit ``kind`` on ``features`` with the knobs of a ``TrainConfig``."""
    # Imported here: each pulls in scikit-learn, which a refused command line never needs.
    if kind == "iforest":
        from edgewatch.coordinator.models.iforest import fit_iforest

        return fit_iforest(features, config)
    if kind == "pca":
        from edgewatch.coordinator.models.pca import fit_pca

        return fit_pca(features, variance=config.variance)
    if kind == "autoencoder":
        from edgewatch.coordinator.models.autoencoder import fit_autoencoder

        return fit_autoencoder(features, hidden=config.hidden, random_state=config.random_state)
    raise ValueError(f"no detector {kind!r}; one of {', '.join(DETECTORS)}")
