"""The detector kinds a sensor type's model can be, behind one contract.

A fitted detector maps a feature matrix (columns ``spec.names``) to one score per row,
higher = more anomalous, and knows how to become the ONNX graph the agent runs
(``export.to_onnx``). ``scores`` is the reference the graph is tested against:
scikit-learn's own output for the IsolationForest, numpy for PCA and the autoencoder.

========== ============================================= ==================================
kind       score                                         when
========== ============================================= ==================================
iforest    ``-decision_function`` of an IsolationForest  point anomalies, any shape of data
pca        ``max(T²/T²₉₉, Q/Q₉₉[, max z²/ref])`` (T²+SPE) correlated metrics, windowed data
autoencoder reconstruction MSE / its 99th percentile     non-linear structure, more data
knn        distance to the nearest training pattern,      shapes over time (lagged values),
           per time scale, over its 99th percentile       recurring spikes, univariate streams
========== ============================================= ==================================
"""

from __future__ import annotations

from typing import Any, Protocol

from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelfile import DETECTORS
from edgewatch.shared.readings import FloatArray

__all__ = ["DETECTORS", "FittedDetector", "fit_detector"]


class FittedDetector(Protocol):
    """A trained detector: reference scores and what its model file records about it."""

    @property
    def kind(self) -> str:
        """``iforest``, ``pca``, ``autoencoder`` or ``knn``."""
        ...

    def scores(self, features: FloatArray) -> FloatArray:
        """One score per row of ``features`` (the graph's output, computed without ONNX)."""
        ...

    def training_scores(self, features: FloatArray) -> FloatArray:
        """Scores of the rows the detector was fitted on, as unseen rows would score:
        what thresholds and calibration are set on (``scores`` for most kinds; a nearest
        neighbour detector leaves each row's own reference out)."""
        ...

    def meta_fields(self) -> dict[str, Any]:
        """Fields of ``ModelMeta`` particular to this detector."""
        ...


def fit_detector(
    kind: str, features: FloatArray, config: Any, spec: FeatureSpec | None = None
) -> FittedDetector:
    """Fit ``kind`` on ``features`` (columns ``spec.names``) with a ``TrainConfig``'s knobs."""
    # Imported here: each pulls in scikit-learn, which a refused command line never needs.
    if kind == "iforest":
        from edgewatch.coordinator.models.iforest import fit_iforest

        return fit_iforest(features, config)
    if kind == "pca":
        from edgewatch.coordinator.models.pca import fit_pca

        return fit_pca(features, variance=config.variance, univariate=config.univariate)
    if kind == "autoencoder":
        from edgewatch.coordinator.models.autoencoder import fit_autoencoder

        return fit_autoencoder(features, hidden=config.hidden, random_state=config.random_state)
    if kind == "knn":
        from edgewatch.coordinator.models.knn import fit_knn

        if spec is None:
            raise ValueError("a nearest-neighbour detector needs the feature spec")
        return fit_knn(
            features, spec=spec, lengths=config.scales, max_references=config.max_references
        )
    raise ValueError(f"no detector {kind!r}; one of {', '.join(DETECTORS)}")
