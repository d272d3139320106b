"""``TieredScorer``: each reading goes to its sensor type's model, else to the fallback.

Until an agent has a model for a type, that type's readings are scored by the fallback
(the rule scorer) and every result says so (``rules``); once ``load`` has installed a
model, they say ``onnx:<type>@<version>``. ``load`` and ``unload`` may run on another
thread than ``score`` (a model push arrives on the MQTT side): the routing table is
copied, changed and swapped under a lock, and ``score`` reads one table for the whole
batch, so a batch is never scored half by the old and half by the new model.

A model that raises while scoring (an onnxruntime error) never stops the agent: its rows
of that batch are judged by the fallback instead (the results say ``rules``), and the
failure is counted per type (``errors``). A **shadow** model per type (a canary in
shadow, ``agent.models.shadow``) scores the same rows after the deciding scorer; its
verdicts are only tallied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgewatch.agent.models.shadow import ShadowTally
from edgewatch.shared.features import DEFAULT_MAX_SENSORS
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.ratelog import RateLimitedLog
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
        self._shadows: Mapping[str, tuple[OnnxScorer, ShadowTally]] = {}
        self.errors: dict[str, int] = {}
        self._warn = RateLimitedLog(log, 60.0)

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

    def set_shadow(self, sensor_type: str, scorer: OnnxScorer | None) -> None:
        """Score ``sensor_type`` also with ``scorer``, tallied only (None: stop)."""
        with self._lock:
            shadows = {k: v for k, v in self._shadows.items() if k != sensor_type}
            if scorer is not None:
                shadows[sensor_type] = (scorer, ShadowTally(scorer.version))
            self._shadows = shadows
        if scorer is not None:
            log.info("shadow-scoring %s with %s", sensor_type, scorer.name)

    def shadows(self) -> dict[str, ShadowTally]:
        return {t: tally for t, (_, tally) in self._shadows.items()}

    def score(self, batch: ReadingBatch) -> Scores:
        models = self._models  # one snapshot for the whole batch
        routes: dict[Scorer, list[int]] = {}
        for i, sensor_type in enumerate(batch.sensor_type):
            routes.setdefault(models.get(sensor_type, self._fallback), []).append(i)
        if len(routes) == 1:  # the common case: one type per batch, no copying
            scores = self._judge(next(iter(routes)), batch)
        else:
            parts = [(idx, self._judge(s, batch.take(idx))) for s, idx in routes.items()]
            scores = _merge(len(batch), parts)
        if self._shadows:
            self._shadow(batch, scores)
        return scores

    def _judge(self, scorer: Scorer, batch: ReadingBatch) -> Scores:
        if scorer is self._fallback:
            return scorer.score(batch)
        try:
            return scorer.score(batch)
        except Exception as exc:  # onnxruntime raises untyped errors; never lose the batch
            sensor_type = batch.sensor_type[0]
            self.errors[sensor_type] = self.errors.get(sensor_type, 0) + 1
            self._warn.warning(
                sensor_type,
                "model %s failed on %d reading(s) (%s); the fallback judged them",
                scorer.name,
                len(batch),
                exc,
            )
            return self._fallback.score(batch)

    def _shadow(self, batch: ReadingBatch, live: Scores) -> None:
        for sensor_type, (scorer, tally) in self._shadows.items():
            idx = [i for i, t in enumerate(batch.sensor_type) if t == sensor_type]
            if not idx:
                continue
            rows = batch if len(idx) == len(batch) else batch.take(idx)
            try:
                verdicts = scorer.score(rows).anomaly
            except Exception as exc:  # a shadow never affects what is sent
                tally.errors += 1
                self._warn.warning(
                    f"shadow:{sensor_type}", "shadow %s failed: %s", scorer.name, exc
                )
                continue
            tally.observe(live.anomaly[idx], verdicts)


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
