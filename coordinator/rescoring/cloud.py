"""The cloud's own scorers: per sensor type, the registry's best model, run by the very
code the agents run (``shared.runtime.OnnxScorer``).

The cloud model of a type is its active model of the highest tier (``high`` before
``medium``); a type without an active model uses its newest model in rollout or trained
(a candidate), so readings of agents without any model are judged as soon as the
coordinator has trained one. Every reading of the type goes through the scorer, in
commit order, so its per-sensor window state (rolling features, smoothing, adaptive
threshold) is whole: all readings arrive at the coordinator. A model change starts a
new scorer (its windows fill again).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from edgewatch.coordinator.store import ModelStore
from edgewatch.coordinator.store.model_records import RANK_BINS, ModelRecord
from edgewatch.shared.errors import ModelError
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import FloatArray, ReadingBatch
from edgewatch.shared.runtime import OnnxScorer
from edgewatch.shared.scoring import Scores, scorer_name

log = logging.getLogger(__name__)
TIER_ORDER = {"high": 0, "medium": 1}
STATUS_ORDER = {"active": 0, "canary": 1, "candidate": 2}


def cloud_model(models: list[ModelRecord], sensor_type: str) -> ModelRecord | None:
    usable = [m for m in models if m.sensor_type == sensor_type and m.status in STATUS_ORDER]
    if not usable:
        return None
    return min(usable, key=lambda m: (STATUS_ORDER[m.status], TIER_ORDER[m.tier], -m.version))


@dataclass
class _Loaded:
    record: ModelRecord
    scorer: OnnxScorer


class CloudScorers:
    def __init__(self, store: ModelStore, *, refresh_s: float = 5.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._loaded: dict[str, _Loaded] = {}
        self._records: list[ModelRecord] = []
        self._types: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        # scorer name -> (reference quantiles, levels): where a model's scores fall
        self._references: dict[str, tuple[FloatArray, FloatArray]] = {}

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._read_at < self.refresh_s:
            return
        self._read_at = now
        self._records = self.store.models()
        self._types = frozenset(
            t for t in {m.sensor_type for m in self._records} if cloud_model(self._records, t)
        )
        self._references = {
            scorer_name(m.sensor_type, m.version): (
                np.asarray(m.evaluation.score_quantiles, dtype=np.float64),
                np.linspace(0.0, 1.0, len(m.evaluation.score_quantiles)),
            )
            for m in self._records
            if m.evaluation is not None and len(m.evaluation.score_quantiles) >= 2
        }

    def types(self) -> frozenset[str]:
        """Types the cloud has a model for."""
        return self._types

    def scorer(self, sensor_type: str) -> OnnxScorer | None:
        best = cloud_model(self._records, sensor_type)
        if best is None:
            self._loaded.pop(sensor_type, None)
            return None
        loaded = self._loaded.get(sensor_type)
        if loaded is not None and loaded.record.id == best.id:
            return loaded.scorer
        data = self.store.model_file(best.id)
        if data is None:
            return None
        try:
            scorer = OnnxScorer(read_model_bytes(data))
        except ModelError as exc:
            log.error("cloud cannot load model %d: %s", best.id, exc)
            return None
        self._loaded[sensor_type] = _Loaded(best, scorer)
        log.info("cloud scores %s with model %d (%s)", sensor_type, best.id, scorer.name)
        return scorer

    def score(self, sensor_type: str, batch: ReadingBatch) -> Scores | None:
        scorer = self.scorer(sensor_type)
        return None if scorer is None else scorer.score(batch)

    def ranks(self, scorer: str, scores: FloatArray) -> tuple[int, ...]:
        """How many of ``scores`` (by the edge model ``scorer``) fall in each tenth of that
        model's held-back score distribution; zeros for a scorer without one."""
        ref = self._references.get(scorer)
        finite = scores[np.isfinite(scores)]
        if ref is None or not len(finite):
            return (0,) * RANK_BINS
        level = np.interp(finite, ref[0], ref[1])
        bins = np.minimum((level * RANK_BINS).astype(np.int64), RANK_BINS - 1)
        return tuple(int(n) for n in np.bincount(bins, minlength=RANK_BINS))
