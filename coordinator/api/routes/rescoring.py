"""``GET /api/v1/rescoring``: cloud re-scoring: the split, agreement per agent, type and
edge scorer (model version), and how far the consumer is behind ingest."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.coordinator.rescoring.agreement import (
    AgreementOut,
    SplitOut,
    agreement_rows,
    split,
)

router = APIRouter(prefix="/rescoring", tags=["rescoring"])


class RescoringOut(BaseModel):
    sample: float
    cloud_models: list[str]
    position: int
    feed_head: int
    split: SplitOut
    agreement: list[AgreementOut]


@router.get("")
def rescoring(service: ServiceDep) -> RescoringOut:
    store = service.store
    consumer = service.models.rescoring
    totals = store.verdict_totals()
    return RescoringOut(
        sample=consumer.sample,
        cloud_models=sorted(consumer.cloud.types()),
        position=store.watermark(consumer.name),
        feed_head=store.feed_head(),
        split=split(totals),
        agreement=agreement_rows(totals),
    )
