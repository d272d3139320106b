"""A model as the API and the dashboard show it (``ModelRecord`` plus its scorer name)."""

from __future__ import annotations

from pydantic import BaseModel

from edgewatch.coordinator.store.model_records import (
    Evaluation,
    ModelRecord,
    ModelStatus,
    TrainingInfo,
)
from edgewatch.shared.modelpack import ModelTier


class ModelOut(BaseModel):
    id: int
    sensor_type: str
    tier: ModelTier
    version: int
    scorer: str
    status: ModelStatus
    status_at: float
    sha256: str
    size: int
    created_at: float
    key_id: str
    training: TrainingInfo
    evaluation: Evaluation | None


def model_out(m: ModelRecord) -> ModelOut:
    return ModelOut(
        id=m.id,
        sensor_type=m.sensor_type,
        tier=m.tier,
        version=m.version,
        scorer=f"onnx:{m.sensor_type}@{m.version}",
        status=m.status,
        status_at=m.status_at,
        sha256=m.sha256,
        size=m.size,
        created_at=m.created_at,
        key_id=m.key_id,
        training=m.training,
        evaluation=m.evaluation,
    )
