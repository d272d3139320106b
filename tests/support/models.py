"""Model files, signatures and packages for the model lifecycle's tests.

Files are trained for real (scikit-learn, our exporter) on the simulated fleet, and
cached per test session: a 50-tree model takes a few hundred milliseconds.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from dataclasses import replace
from typing import Any

import numpy as np

from edgewatch.agent.encoder import encode_batch
from edgewatch.agent.sources.simulator import expected_stream
from edgewatch.coordinator.models.export import to_onnx
from edgewatch.coordinator.models.trainer import ThresholdPolicy, TrainConfig, train_batch
from edgewatch.coordinator.store.model_records import Evaluation, NewModel, TrainingInfo
from edgewatch.coordinator.store.records import WriteSet
from edgewatch.shared import wire
from edgewatch.shared.codec import encode
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelpack import ModelPackage, ModelSignature
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch
from edgewatch.shared.scoring import Scores
from edgewatch.shared.signing import SignKey, encode_signature, model_statement

SENSORS = 12  # SENSOR_000.. of the simulated fleet: every one of the four types


@functools.cache
def history(seed: int = 99, count: int = 6000) -> ReadingBatch:
    return expected_stream(seed, SENSORS, 0, count)


@functools.cache
def model_bytes(sensor_type: str, version: int, *, trees: int = 50, quantile: float = 1.0) -> bytes:
    """A model file of ``sensor_type`` (``quantile`` < 1 puts the threshold inside the
    training scores: a model that flags far more than it should)."""
    config = TrainConfig(
        n_trees=trees, smooth=3, threshold=ThresholdPolicy("quantile", quantile=quantile)
    )
    data = history()
    if sensor_type not in data.sensor_type:  # another type: trained on industrial readings
        data = replace(data, sensor_type=[sensor_type] * len(data))
    trained = train_batch(
        data, FeatureSpec(SIM_METRICS), config, sensor_type=sensor_type, version=version
    )
    return bytes(to_onnx(trained).SerializeToString())


def sign(
    key: SignKey, sensor_type: str, version: int, data: bytes, tier: str = "medium"
) -> ModelSignature:
    digest = hashlib.sha256(data).hexdigest()
    statement = model_statement(sensor_type, tier, version, digest)
    return ModelSignature(
        sensor_type=sensor_type,
        tier=tier,  # type: ignore[arg-type]
        version=version,
        sha256=digest,
        key_id=key.public.key_id,
        signature=encode_signature(key.sign(statement)),
    )


def package(
    file: bytes,
    sensor_type: str,
    version: int,
    signature: ModelSignature | None,
    **changes: Any,
) -> bytes:
    """A package payload; ``changes`` overrides fields after signing (to forge one)."""
    fields: dict[str, Any] = {
        "sensor_type": sensor_type,
        "version": version,
        "sha256": hashlib.sha256(file).hexdigest(),
        "signature": signature,
        "data": base64.b64encode(file).decode(),
    }
    fields.update(changes)
    return encode(ModelPackage(**fields))


def new_model(
    key: SignKey, sensor_type: str, version: int, *, tier: str = "medium", quantile: float = 1.0
) -> NewModel:
    """A registrable model (as the registry would make it), signed with ``key``."""
    data = model_bytes(sensor_type, version, quantile=quantile)
    sig = sign(key, sensor_type, version, data, tier)
    return NewModel(
        sensor_type=sensor_type,
        tier=tier,  # type: ignore[arg-type]
        version=version,
        sha256=sig.sha256,
        created_at=time.time(),
        training=TrainingInfo("test", 6000, 0, SENSORS, ("t",), None, None, "iforest", 50, 0.1),
        evaluation=Evaluation(1000, 0.01, tuple(np.linspace(-0.2, 0.2, 21).tolist()), 0),
        key_id=sig.key_id,
        signature=sig.signature,
        data=data,
    )


def stored_readings(
    agent_id: str,
    count: int,
    *,
    seed: int = 5,
    scorer: str = "rules",
    anomalies: float = 0.0,
    start: float | None = None,
) -> WriteSet:
    """``count`` simulated readings of ``agent_id`` as ingest would write them, judged by
    ``scorer`` (``anomalies``: share flagged), timestamped from ``start`` one ms apart."""
    stream = expected_stream(seed, SENSORS, 0, count)
    base = time.time() - count / 1000 if start is None else start
    stream.ts[:] = base + np.arange(count) / 1000
    flagged = np.zeros(count, dtype=np.bool_)
    flagged[: int(count * anomalies)] = True
    scores = Scores(np.zeros(count), flagged, np.full(count, 0.9), [scorer] * count)
    batches = []
    for i in range(0, count, 500):
        part = np.arange(i, min(count, i + 500))
        sub = Scores(
            scores.score[part], flagged[part], scores.confidence[part], [scorer] * len(part)
        )
        enc = encode_batch(stream.take(part), sub, agent_id=agent_id, epoch=1, first_seq=i)
        batches.append(wire.decode_results(enc.payload))
    return WriteSet(batches=batches)
