"""Agreement between edge and cloud, and the edge/cloud split, from the verdict figures.

``split`` is what ``GET /api/v1/stats`` shows under ``scoring``: of the readings the
re-scoring consumer has gone through, how many the edge judged with a model and with
rules, how many the cloud re-scored (a sample of the former, all of the latter when it
has a model for their type) and how often the two verdicts agreed.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from edgewatch.coordinator.store.model_records import VerdictCounts


class AgreementOut(BaseModel):
    agent_id: str
    sensor_type: str
    scorer: str
    readings: int
    edge_anomalies: int
    rescored: int
    agreed: int
    cloud_anomalies: int
    agreement: float | None


class SplitOut(BaseModel):
    readings: int
    edge_model: int
    edge_rules: int
    cloud_rescored: int
    cloud_sample: int
    cloud_no_model: int
    agreement: float | None


def is_model(scorer: str) -> bool:
    return scorer.startswith("onnx:")


def agreement_rows(totals: Iterable[VerdictCounts]) -> list[AgreementOut]:
    return [
        AgreementOut(
            agent_id=c.agent_id,
            sensor_type=c.sensor_type,
            scorer=c.scorer,
            readings=c.readings,
            edge_anomalies=c.anomalies,
            rescored=c.rescored,
            agreed=c.agreed,
            cloud_anomalies=c.cloud_anomalies,
            agreement=round(c.agreed / c.rescored, 6) if c.rescored else None,
        )
        for c in totals
    ]


def split(totals: Iterable[VerdictCounts]) -> SplitOut:
    rows = list(totals)
    model = [c for c in rows if is_model(c.scorer)]
    rules = [c for c in rows if not is_model(c.scorer)]
    rescored = sum(c.rescored for c in rows)
    agreed = sum(c.agreed for c in rows)
    return SplitOut(
        readings=sum(c.readings for c in rows),
        edge_model=sum(c.readings for c in model),
        edge_rules=sum(c.readings for c in rules),
        cloud_rescored=rescored,
        cloud_sample=sum(c.rescored for c in model),
        cloud_no_model=sum(c.rescored for c in rules),
        agreement=round(agreed / rescored, 6) if rescored else None,
    )
