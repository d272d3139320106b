"""``TieredScorer``: each reading goes to its sensor type's model, else to the fallback.

Until an agent has a model for a type, that type's readings are scored by the fallback
(the rule scorer) and every result says so (``rules``); once ``load`` has installed a
model, they say ``onnx:<type>@<version>``. ``load`` and ``unload`` may run on another
thread than ``score`` (a model push arrives on the MQTT side): the routing table is
copied, changed and swapped under a lock, and ``score`` reads one table for the whole
batch, so a batch is never scored half by the old and half by the new model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgewatch.shared.features import DEFAULT_MAX_SENSORS
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.scoring import ModelInfo, Scorer, Scores

if TYPE_CHECKING:
    # onnxruntime costs ~20 MB of RSS: a rules-only agent (the low tier) never loads it.
    from edgewatch.shared.runtime import OnnxScorer

log = logging.getLogger(__name__)


class TieredScorer:
    """Routes readings by ``sensor_type`` to loaded ``OnnxScorer``s or to ``fallback``."""

    def __init__(self, fallback: Scorer, *, max_sensors: int = DEFAULT_MAX_SENSORS) -> None:
        self._fallback = fallback
        self._max_sensors = max_sensors
        self._lock = threading.Lock()
        self._models: Mapping[str, OnnxScorer] = {}

    @property
    def name(self) -> str:
        return f"tiered({self._fallback.name})"

    def load(self, source: Path | bytes | OnnxScorer) -> OnnxScorer:
        """Install a model for its sensor type, replacing any other; raises ``ModelError``.

        The file is read and the session built before the lock is taken, so scoring
        is not held up by a slow load and a bad file leaves the current model in place.
        """
        from edgewatch.shared.runtime import OnnxScorer

        if isinstance(source, OnnxScorer):
            scorer = source
        else:
            scorer = OnnxScorer(read_model_bytes(source), max_sensors=self._max_sensors)
        with self._lock:
            previous = self._models.get(scorer.sensor_type)
            self._models = {**self._models, scorer.sensor_type: scorer}
        log.info(
            "scoring %s with %s (was %s)",
            scorer.sensor_type,
            scorer.name,
            previous.name if previous else self._fallback.name,
        )
        return scorer

    def unload(self, sensor_type: str) -> bool:
        """Send ``sensor_type`` back to the fallback; False if it had no model."""
        with self._lock:
            if sensor_type not in self._models:
                return False
            self._models = {k: v for k, v in self._models.items() if k != sensor_type}
        log.info("scoring %s with %s (model unloaded)", sensor_type, self._fallback.name)
        return True

    def models(self) -> dict[str, ModelInfo]:
        """The loaded model per sensor type (types without one go to the fallback)."""
        return {t: s.info for t, s in self._models.items()}

    def score(self, batch: ReadingBatch) -> Scores:
        models = self._models  # one snapshot for the whole batch
        routes: dict[Scorer, list[int]] = {}
        for i, sensor_type in enumerate(batch.sensor_type):
            routes.setdefault(models.get(sensor_type, self._fallback), []).append(i)
        if len(routes) == 1:  # the common case: one type per batch, no copying
            return next(iter(routes)).score(batch)
        return _merge(len(batch), [(idx, s.score(batch.take(idx))) for s, idx in routes.items()])


def _merge(n: int, parts: list[tuple[list[int], Scores]]) -> Scores:
    """Scores of row subsets put back in batch order."""
    score = np.full(n, np.nan)
    anomaly = np.zeros(n, dtype=np.bool_)
    conf = np.zeros(n)
    names = [""] * n
    for index, part in parts:
        score[index] = part.score
        anomaly[index] = part.anomaly
        conf[index] = part.confidence
        for i, name in zip(index, part.scorer, strict=True):
            names[i] = name
    return Scores(score=score, anomaly=anomaly, confidence=conf, scorer=names)
