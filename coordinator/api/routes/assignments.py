"""``/api/v1/assignments``: which agent watches which sensor, how it came to be, and a
button to re-plan (``POST /rebalance``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import BadRequestError

router = APIRouter(prefix="/assignments", tags=["assignments"])


class AssignmentsOut(BaseModel):
    strategy: str | None
    changed_at: float | None
    agents: dict[str, list[str]]
    unassigned: dict[str, str]
    moves: int


class EventOut(BaseModel):
    id: int
    at: float
    sensor_id: str
    from_agent: str | None
    to_agent: str | None
    reason: str


class EventsPage(BaseModel):
    events: list[EventOut]
    # Pass back as ``after`` for the next page.
    last_id: int


class RebalanceOut(BaseModel):
    requested: bool


@router.get("")
def assignments(store: StoreDep, service: ServiceDep) -> AssignmentsOut:
    duty = service.fleet_duty
    if duty is not None:
        return AssignmentsOut(
            strategy=duty.strategy.name,
            changed_at=duty.changed_at,
            agents=duty.assignments(),
            unassigned=duty.unassigned(),
            moves=duty.moves,
        )
    placed = store.placements()
    agents: dict[str, list[str]] = {}
    for sid, p in sorted(placed.items()):
        agents.setdefault(p.agent_id, []).append(sid)
    changed = max((p.since for p in placed.values()), default=None)
    return AssignmentsOut(strategy=None, changed_at=changed, agents=agents, unassigned={}, moves=0)


@router.get("/events")
def events(
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="events with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> EventsPage:
    found = store.assignment_events(after, limit)
    return EventsPage(
        events=[
            EventOut(
                id=e.event_id,
                at=e.at,
                sensor_id=e.sensor_id,
                from_agent=e.from_agent,
                to_agent=e.to_agent,
                reason=e.reason,
            )
            for e in found
        ],
        last_id=found[-1].event_id if found else after,
    )


@router.post("/rebalance", status_code=202)
def rebalance(service: ServiceDep) -> RebalanceOut:
    if service.fleet_duty is None:
        raise BadRequestError("assignment", "this coordinator does not assign sensors")
    service.fleet_duty.rebalance()
    return RebalanceOut(requested=True)
