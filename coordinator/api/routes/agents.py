"""``GET /api/v1/agents`` and ``/agents/{id}``: the fleet as the coordinator knows it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import StoreDep
from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.fleet.registry import AgentRecord, AgentState
from edgewatch.shared.schemas import ModelRef

router = APIRouter(prefix="/agents", tags=["agents"])


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


def agent_out(rec: AgentRecord, stored: int) -> AgentOut:
    beat = rec.heartbeat or {}
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
    )


@router.get("")
def list_agents(store: StoreDep) -> list[AgentOut]:
    counters = store.counters().agents
    return [
        agent_out(r, counters[r.id].readings_stored if r.id in counters else 0)
        for r in store.agents()
    ]


@router.get("/{agent_id}")
def get_agent(agent_id: str, store: StoreDep) -> AgentOut:
    rec = store.agent(agent_id)
    if rec is None:
        raise NotFoundError("agent", agent_id)
    counters = store.counters().agents.get(agent_id)
    return agent_out(rec, counters.readings_stored if counters else 0)
