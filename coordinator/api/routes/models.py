"""``/api/v1/models``: the model registry, its files and signatures, training on demand.

``POST /models/train`` trains a sensor type's model from the store and answers with the
new model's record (422 with the counts when there is too little data, 409 while
another training runs). The file itself is ``GET /models/{id}/file``; its signature,
to put beside a file copied by hand, ``GET /models/{id}/signature``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.models.view import ModelOut, model_out
from edgewatch.coordinator.store.model_records import (
    MODEL_STATUSES,
    ModelRecord,
)
from edgewatch.shared.modelpack import ModelSignature, ModelTier
from edgewatch.shared.schemas import SensorType, Timestamp

router = APIRouter(prefix="/models", tags=["models"])
ModelId = Annotated[int, Path(ge=1, le=2**53)]
NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "no such model"}}


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sensor_type: SensorType
    tier: ModelTier = "high"
    since: Timestamp | None = Field(default=None, description="readings from (epoch seconds)")
    until: Timestamp | None = Field(default=None, description="readings before (epoch seconds)")


def _record(store: StoreDep, model_id: ModelId) -> ModelRecord:
    found = store.model(model_id)
    if found is None:
        raise NotFoundError("model", str(model_id))
    return found


@router.get("")
def list_models(
    store: StoreDep,
    sensor_type: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="|".join(MODEL_STATUSES))] = None,
) -> list[ModelOut]:
    return [model_out(m) for m in store.models(sensor_type) if status in (None, m.status)]


@router.post(
    "/train",
    responses={
        409: {"description": "another training runs"},
        422: {"description": "too little data"},
    },
)
def train(body: TrainIn, service: ServiceDep) -> ModelOut:
    record = service.models.registry.train(
        body.sensor_type, body.tier, since=body.since, until=body.until
    )
    return model_out(record)


# ``:int``: a path that is not a number (``/models/train``) is no model (405 for GET, not 422).
@router.get("/{model_id:int}", responses=NOT_FOUND)
def get_model(model_id: ModelId, store: StoreDep) -> ModelOut:
    return model_out(_record(store, model_id))


@router.get("/{model_id:int}/file", response_class=Response, responses=NOT_FOUND)
def get_file(model_id: ModelId, store: StoreDep) -> Response:
    m = _record(store, model_id)
    data = store.model_file(model_id) or b""
    name = f"{m.sensor_type}@{m.version}.onnx"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Sha256": m.sha256},
    )


@router.get("/{model_id:int}/signature", responses=NOT_FOUND)
def get_signature(model_id: ModelId, store: StoreDep) -> ModelSignature:
    m = _record(store, model_id)
    return ModelSignature(
        sensor_type=m.sensor_type,
        tier=m.tier,
        version=m.version,
        sha256=m.sha256,
        key_id=m.key_id,
        signature=m.signature,
    )
