"""``GET /api/v1/agents`` and ``/agents/{id}``: the fleet as the coordinator knows it
(the view itself is ``coordinator.fleet.view``)."""

from __future__ import annotations

from fastapi import APIRouter

from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.fleet.view import AgentOut, agent_out
from edgewatch.coordinator.service import CoordinatorService

router = APIRouter(prefix="/agents", tags=["agents"])


def _stuck(service: CoordinatorService, agent_id: str) -> bool:
    duty = service.fleet_duty
    return duty is not None and duty.convergence(agent_id).stuck


@router.get("")
def list_agents(store: StoreDep, service: ServiceDep) -> list[AgentOut]:
    counters = store.counters().agents
    desired = store.desired_states()
    return [
        agent_out(
            r,
            counters[r.id].readings_stored if r.id in counters else 0,
            desired.get(r.id),
            _stuck(service, r.id),
        )
        for r in store.agents()
    ]


@router.get("/{agent_id}", responses={404: {"description": "no such agent"}})
def get_agent(agent_id: str, store: StoreDep, service: ServiceDep) -> AgentOut:
    rec = store.agent(agent_id)
    if rec is None:
        raise NotFoundError("agent", agent_id)
    counters = store.counters().agents.get(agent_id)
    desired = store.desired_states().get(agent_id)
    return agent_out(
        rec, counters.readings_stored if counters else 0, desired, _stuck(service, agent_id)
    )
