"""A rollout as the API and the dashboard show it: its record, events and last gate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from edgewatch.coordinator.rollout.controller import RolloutController
from edgewatch.coordinator.rollout.orders import RUNNING_STATES
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import Rollout, RolloutEvent, RolloutState


class EventOut(BaseModel):
    id: int
    rollout_id: int
    at: float
    kind: str
    reason: str
    figures: dict[str, Any]


class GateOut(BaseModel):
    decision: str
    reasons: list[str]
    figures: dict[str, Any]


class RolloutOut(BaseModel):
    id: int
    model_id: int
    sensor_type: str
    tier: str
    state: RolloutState
    canary_spec: str
    canary: list[str]
    shadow: bool
    baseline_model_id: int | None
    started_at: float
    soak_started_at: float | None
    finished_at: float | None
    completed_at: float | None
    reason: str
    gate: GateOut | None
    events: list[EventOut]


def event_out(e: RolloutEvent) -> EventOut:
    return EventOut(
        id=e.id, rollout_id=e.rollout_id, at=e.at, kind=e.kind, reason=e.reason, figures=e.figures
    )


def rollout_out(r: Rollout, store: Store, controller: RolloutController | None) -> RolloutOut:
    """``controller`` None: this replica does not run the model duty (no live gate)."""
    verdict = controller.last_gate.get(r.id) if controller is not None else None
    if verdict is not None and verdict.decision == "wait" and r.state not in RUNNING_STATES:
        verdict = None  # decided by an operator meanwhile: "still soaking" no longer holds
    return RolloutOut(
        id=r.id,
        model_id=r.model_id,
        sensor_type=r.sensor_type,
        tier=r.tier,
        state=r.state,
        canary_spec=r.canary_spec,
        canary=list(r.canary),
        shadow=r.shadow,
        baseline_model_id=r.baseline_model_id,
        started_at=r.started_at,
        soak_started_at=r.soak_started_at,
        finished_at=r.finished_at,
        completed_at=r.completed_at,
        reason=r.reason,
        gate=None
        if verdict is None
        else GateOut(
            decision=verdict.decision, reasons=list(verdict.reasons), figures=verdict.figures
        ),
        events=[event_out(e) for e in store.rollout_events(0, 1000, r.id)],
    )
