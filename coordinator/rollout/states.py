"""Small facts a rollout's transitions are made of: what promotion changes, which model
is active, which rollout runs, whether an agent runs a model (live or in shadow)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edgewatch.coordinator.rollout.fleet_view import AgentView
from edgewatch.coordinator.rollout.orders import RUNNING_STATES
from edgewatch.coordinator.store.model_records import ModelRecord, ModelStatus, Rollout


def promotion(model: ModelRecord, models: Sequence[ModelRecord]) -> dict[int, ModelStatus]:
    """``model`` becomes active; the active one of its type and tier, retired."""
    statuses: dict[int, ModelStatus] = {model.id: "active"}
    same = (model.sensor_type, model.tier)
    for m in models:
        if m.status == "active" and (m.sensor_type, m.tier) == same and m.id != model.id:
            statuses[m.id] = "retired"
    return statuses


def active(models: Iterable[ModelRecord], sensor_type: str, tier: str) -> ModelRecord | None:
    wanted = (sensor_type, tier)
    return next(
        (m for m in models if m.status == "active" and (m.sensor_type, m.tier) == wanted), None
    )


def running(rollouts: Iterable[Rollout], sensor_type: str, tier: str) -> Rollout | None:
    wanted = (sensor_type, tier)
    return next(
        (r for r in rollouts if r.state in RUNNING_STATES and (r.sensor_type, r.tier) == wanted),
        None,
    )


def runs(view: AgentView, r: Rollout, model: ModelRecord) -> bool:
    """``view`` runs ``model``: live, or in shadow for a shadow rollout."""
    if r.shadow:
        shadow = view.reported.shadow.get(r.sensor_type) if view.reported else None
        return shadow is not None and shadow.version == model.version
    ref = view.running.get(r.sensor_type)
    return ref is not None and ref.version == model.version and ref.sha256 == model.sha256
