"""The model registry: train from the store, evaluate, sign, register a candidate.

``ModelRegistry.train(sensor_type, tier)`` runs the whole path off the ingest thread:

1. training data from the store (``store_data``: bounded, cleaned, held-back slice);
2. fit (``trainer``: the detector, threshold and calibration of the product's recipe:
   IsolationForest of the tier's size, scores smoothed over 5, threshold at the top
   training score plus 0.2 × its distance from the median);
3. export to one ONNX graph (``export``), in memory;
4. evaluate the bytes on the held-back slice (``evaluate``, through the agent's code);
5. sign (``signing.Keyring``) and register as ``candidate`` with its training summary.

One training at a time (``Conflict`` otherwise): memory stays bounded by one window.
Versions grow per type: ``max(last + 1, now in seconds)``, so they also grow across a
store that was reset while agents kept running newer versions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgewatch.coordinator.models.errors import Conflict, Refused
from edgewatch.coordinator.models.evaluate import evaluate
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.models.store_data import DataSettings, training_data
from edgewatch.coordinator.models.trainer import (
    RECIPE_SMOOTH,
    RECIPE_THRESHOLD,
    TIER_TREES,
    TrainConfig,
    train_batch,
)
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import ModelRecord, NewModel, TrainingInfo
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelpack import ModelTier

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingSettings:
    data: DataSettings = field(default_factory=DataSettings)
    detector: str = "iforest"
    smooth: int = RECIPE_SMOOTH
    seed: int = 0
    keep_candidates: int = 5  # per type and tier; older never-rolled-out ones are deleted


def next_version(last: int, now: float) -> int:
    return max(last + 1, int(now))


class ModelRegistry:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: TrainingSettings | None = None,
        *,
        clock: Clock = SYSTEM,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings or TrainingSettings()
        self.clock = clock
        self._busy = threading.Lock()

    def train(
        self,
        sensor_type: str,
        tier: ModelTier,
        *,
        since: float | None = None,
        until: float | None = None,
        progress: Progress | None = None,
    ) -> ModelRecord:
        if tier not in TIER_TREES:
            raise Refused(f"no model tier {tier!r}; one of {', '.join(TIER_TREES)}")
        if not self._busy.acquire(blocking=False):
            raise Conflict("a training is running already; try again when it is done")
        try:
            return self._train(sensor_type, tier, since, until, progress or log.info)
        finally:
            self._busy.release()

    def _train(
        self,
        sensor_type: str,
        tier: ModelTier,
        since: float | None,
        until: float | None,
        say: Progress,
    ) -> ModelRecord:
        t0 = time.perf_counter()
        s = self.settings
        seen = sum(a.readings for a in self.store.sensors() if a.sensor_type == sensor_type)
        say(f"reading training data of {sensor_type!r} from the store")
        data = training_data(
            self.store, sensor_type, s.data, now=self.clock.time(), since=since, until=until
        )
        say(f"fitting {s.detector} ({tier}) on {len(data.train)} readings")
        config = TrainConfig.for_tier(
            tier,
            threshold=RECIPE_THRESHOLD,
            smooth=s.smooth,
            random_state=s.seed,
            detector=s.detector,
        )
        version = next_version(self.store.latest_model_version(sensor_type), self.clock.time())
        trained = train_batch(
            data.train, FeatureSpec(data.metrics), config, sensor_type=sensor_type, version=version
        )
        from edgewatch.coordinator.models.export import to_onnx

        blob = to_onnx(trained).SerializeToString()
        say(f"evaluating on {len(data.held)} held-back readings")
        evaluation = evaluate(blob, data.held)
        sha256 = hashlib.sha256(blob).hexdigest()
        signature = self.keyring.sign(sensor_type, tier, version, sha256)
        summary = trained.summary
        info = TrainingInfo(
            source="store",
            rows=summary.rows,
            excluded=data.excluded,
            sensors=summary.sensors,
            agents=data.agents,
            ts_first=summary.ts_first,
            ts_last=summary.ts_last,
            detector=trained.kind,
            trees=TIER_TREES[tier] if trained.kind == "iforest" else None,
            seconds=round(time.perf_counter() - t0, 3),
            readings_seen=seen,
        )
        record = self.store.add_model(
            NewModel(
                sensor_type=sensor_type,
                tier=tier,
                version=version,
                sha256=sha256,
                created_at=self.clock.time(),
                training=info,
                evaluation=evaluation,
                key_id=signature.key_id,
                signature=signature.signature,
                data=blob,
            )
        )
        say(f"registered model {record.id}: {sensor_type}@{version} ({len(blob):,} bytes)")
        self._prune(sensor_type, tier)
        return record

    def _prune(self, sensor_type: str, tier: ModelTier) -> None:
        candidates = [
            m.id
            for m in self.store.models(sensor_type)
            if m.tier == tier and m.status == "candidate"
        ]
        stale = candidates[: max(0, len(candidates) - self.settings.keep_candidates)]
        if stale:
            self.store.delete_candidates(stale)
            log.info("deleted %d old candidate model(s) of %s/%s", len(stale), sensor_type, tier)
