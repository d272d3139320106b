"""``/api/v1/rollouts``: staged model rollouts, their transitions and why.

``POST /rollouts`` starts one (``{"model_id": 7, "canary": "10%"}``; ``"100%"`` goes to
every agent at once; ``"pi-1,pi-2"`` names the canaries; ``"shadow": true`` runs the
candidate beside the current model). ``GET /rollouts`` lists them, newest first, each
with its events; ``POST /rollouts/{id}/promote`` and ``/rollback`` decide by hand.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.rollout.controller import RolloutController
from edgewatch.coordinator.rollout.view import EventOut, RolloutOut, event_out, rollout_out
from edgewatch.coordinator.service import CoordinatorService

router = APIRouter(prefix="/rollouts", tags=["rollouts"])
RolloutId = Annotated[int, Path(ge=1, le=2**53)]
NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "no such rollout"}}
DECIDE: dict[int | str, dict[str, str]] = {
    **NOT_FOUND,
    409: {"description": "the rollout is not running (promote) or cannot go back (rollback)"},
}


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: int = Field(ge=1, le=2**53)
    canary: str = Field(default="10%", min_length=1, max_length=4000)
    shadow: bool = False


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="operator", min_length=1, max_length=200)


class EventsPage(BaseModel):
    events: list[EventOut]
    last_id: int


def _controller(service: CoordinatorService) -> RolloutController:
    controller = service.models.rollouts
    if controller is None:  # pragma: no cover - routes are served after start
        raise NotFoundError("rollout controller", "not started")
    return controller


@router.post(
    "",
    responses={
        404: {"description": "no such model"},
        409: {"description": "the model is out already, or its type and tier has a rollout"},
    },
)
def start_rollout(body: RolloutIn, service: ServiceDep, store: StoreDep) -> RolloutOut:
    controller = _controller(service)
    rollout = controller.start(body.model_id, body.canary, shadow=body.shadow)
    return rollout_out(rollout, store, controller)


@router.get("")
def list_rollouts(
    service: ServiceDep, store: StoreDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RolloutOut]:
    controller = _controller(service)
    return [rollout_out(r, store, controller) for r in store.rollouts(limit)]


@router.get("/events")
def list_events(
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> EventsPage:
    events = store.rollout_events(after, limit)
    return EventsPage(
        events=[event_out(e) for e in events], last_id=events[-1].id if events else after
    )


@router.get("/{rollout_id:int}", responses=NOT_FOUND)
def get_rollout(rollout_id: RolloutId, service: ServiceDep, store: StoreDep) -> RolloutOut:
    found = store.rollout(rollout_id)
    if found is None:
        raise NotFoundError("rollout", str(rollout_id))
    return rollout_out(found, store, _controller(service))


@router.post("/{rollout_id:int}/promote", responses=DECIDE)
def promote(
    rollout_id: RolloutId, service: ServiceDep, store: StoreDep, body: DecisionIn | None = None
) -> RolloutOut:
    controller = _controller(service)
    reason = body.reason if body is not None else "operator"
    return rollout_out(controller.promote(rollout_id, reason), store, controller)


@router.post("/{rollout_id:int}/rollback", responses=DECIDE)
def rollback(
    rollout_id: RolloutId, service: ServiceDep, store: StoreDep, body: DecisionIn | None = None
) -> RolloutOut:
    controller = _controller(service)
    reason = body.reason if body is not None else "operator"
    return rollout_out(controller.rollback(rollout_id, reason), store, controller)
