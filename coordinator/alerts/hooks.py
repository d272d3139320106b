"""Typed events other duties hand the alert engine.

``model_rollback``: the model lifecycle (staged rollouts with a quality gate, issue 9)
calls ``AlertHooks.model_rolled_back(...)`` when a rollout of a sensor type is rolled
back, automatically or by hand. The alert (scope ``type:<sensor_type>``) opens at once
and clears after the rule's ``clear_after`` (default 1 h) unless another rollback of that
type comes first. Until rollouts exist nothing calls it; the rule is defined, documented
and tested with a synthetic event.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgewatch.coordinator.alerts.engine import AlertEngine, scope_of
from edgewatch.coordinator.alerts.records import Transition


@dataclass(frozen=True)
class ModelRollback:
    sensor_type: str
    from_version: int
    to_version: int
    reason: str
    automatic: bool = True


class AlertHooks:
    """What other duties may tell the alert engine. Thread-safe (the engine locks)."""

    def __init__(self, engine: AlertEngine | None) -> None:
        self._engine = engine

    def model_rolled_back(self, event: ModelRollback) -> list[Transition]:
        if self._engine is None:
            return []
        how = "automatically" if event.automatic else "by hand"
        note = (
            f"rolled back {how} from version {event.from_version} to {event.to_version}: "
            f"{event.reason}"
        )[:500]
        scope = scope_of("type", event.sensor_type)
        return self._engine.on_event("model_rollback", scope, float(event.from_version), note)
