"""The IsolationForest detector: StandardScaler + IsolationForest (see ``forest``, ``export``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from edgewatch.shared.readings import FloatArray


@dataclass(frozen=True, slots=True)
class IForestDetector:
    scaler: StandardScaler
    forest: IsolationForest
    kind: str = "iforest"

    def decision_function(self, features: FloatArray) -> FloatArray:
        return np.asarray(self.forest.decision_function(self.scaler.transform(features)))

    def scores(self, features: FloatArray) -> FloatArray:
        return -self.decision_function(features)

    def training_scores(self, features: FloatArray) -> FloatArray:
        return self.scores(features)

    def meta_fields(self) -> dict[str, Any]:
        return {
            "n_trees": len(self.forest.estimators_),
            "max_samples": int(self.forest.max_samples_),
            "offset": float(self.forest.offset_),
        }


def fit_iforest(features: FloatArray, config: Any) -> IForestDetector:
    scaler = StandardScaler().fit(features)
    forest = IsolationForest(
        n_estimators=config.n_trees,
        contamination=config.contamination,
        max_samples=config.max_samples,
        random_state=config.random_state,
    )
    with warnings.catch_warnings():
        # max_samples > n is clipped with a UserWarning; that is the behaviour we want.
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(scaler.transform(features))
    return IForestDetector(scaler, forest)
