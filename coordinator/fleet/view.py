"""The agent as the coordinator knows it: registry record, desired and reported state.

One view for the API (``GET /api/v1/agents``) and the dashboard: what the agent was
told to run (its desired state's generation and sensors) beside what it reports running
(the generation it applied, its active sensors, errors), and whether the two agree
(``converged``: also every model version it is to run) or have disagreed for too long
(``stuck``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from edgewatch.coordinator.fleet.registry import AgentRecord, AgentState
from edgewatch.coordinator.store import StoredDesired
from edgewatch.shared.desired import DesiredState, ModelOrder
from edgewatch.shared.schemas import ModelRef, ReportedState


class DesiredOut(BaseModel):
    generation: int
    issued_at: float | None
    sensors: list[str]
    # The models it is to run (and try in shadow), per sensor type.
    models: dict[str, ModelOrder] = Field(default_factory=dict)
    shadow: dict[str, ModelOrder] = Field(default_factory=dict)


class AgentOut(BaseModel):
    id: str
    state: AgentState
    tier: str | None
    version: str | None
    latitude: float | None
    longitude: float | None
    epoch: int | None
    first_seen: float
    last_seen: float
    last_heartbeat_at: float | None
    heartbeat: dict[str, Any] | None
    outbox_rows: int | None
    scorer: str | None
    models: dict[str, ModelRef]
    readings_stored: int
    capacity: int | None
    desired: DesiredOut
    reported: ReportedState | None
    converged: bool
    stuck: bool


def _desired(stored: StoredDesired | None) -> DesiredOut:
    if stored is None:
        return DesiredOut(generation=0, issued_at=None, sensors=[])
    doc = DesiredState.model_validate_json(stored.document)
    return DesiredOut(
        generation=stored.generation,
        issued_at=stored.issued_at,
        sensors=[s.sensor_id for s in doc.sensors],
        models=dict(doc.models),
        shadow=dict(doc.shadow),
    )


def agent_out(
    rec: AgentRecord, stored: int, desired: StoredDesired | None, stuck: bool = False
) -> AgentOut:
    beat = rec.heartbeat or {}
    raw = beat.get("reported")
    reported = ReportedState.model_validate(raw) if isinstance(raw, dict) else None
    wanted = _desired(desired)
    applied = reported.generation if reported is not None else 0
    return AgentOut(
        id=rec.id,
        state=rec.state,
        tier=rec.tier,
        version=rec.version,
        latitude=rec.latitude,
        longitude=rec.longitude,
        epoch=rec.epoch,
        first_seen=rec.first_seen,
        last_seen=rec.last_seen,
        last_heartbeat_at=rec.heartbeat_at,
        heartbeat=rec.heartbeat,
        outbox_rows=beat.get("outbox_rows"),
        scorer=beat.get("scorer"),
        models=rec.models,
        readings_stored=stored,
        capacity=rec.capacity,
        desired=wanted,
        reported=reported,
        converged=applied >= wanted.generation and _runs_models(rec, wanted),
        stuck=stuck and applied < wanted.generation,
    )


def _runs_models(rec: AgentRecord, wanted: DesiredOut) -> bool:
    """It runs every model version its desired state names (a push can lag the apply)."""
    return all(
        (m := rec.models.get(t)) is not None and m.version == o.version and m.sha256 == o.sha256
        for t, o in wanted.models.items()
    )
