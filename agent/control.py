"""The agent's side of the control plane: accept, persist and apply desired states.

What the coordinator wants this agent to run arrives as a retained ``DesiredState`` on
the agent's ``desired`` topic (``shared.desired``). A desired state is **accepted** only
if it is well formed, for this agent, of a generation newer than the one applied, and
runnable here (every sensor reachable: a site sensor needs a site broker); anything else
is **refused**, counted by reason and reported back, and the agent keeps running what it
had. An accepted one is persisted in the outbox file *before* it is applied, so a
rebooted agent without uplink resumes it (``resume``).

Pure bookkeeping around the source: the worker thread calls it, nothing here blocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgewatch.agent.models.manager import ModelManager
from edgewatch.agent.sources.base import AssignableSource, Source
from edgewatch.shared.codec import decode
from edgewatch.shared.desired import DesiredState, EdgeAlertSettings
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.schemas import MAX_ASSIGNED, ModelRef, ReportedState

log = logging.getLogger(__name__)
MAX_DESIRED_BYTES = 2 * 1024 * 1024


@dataclass
class ControlPlane:
    agent_id: str
    source: Source
    generation: int = 0
    # The alert rules the applied desired state gives the agent (None: its defaults).
    alert_settings: EdgeAlertSettings | None = None
    errors: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    # Carries out the model orders (None: an agent without the ONNX tier refuses them).
    models: ModelManager | None = None
    _warn: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))

    def receive(self, payload: bytes) -> DesiredState | None:
        """The desired state in ``payload`` if it is to be applied, else None (counted)."""
        try:
            desired = decode(payload, DesiredState, max_bytes=MAX_DESIRED_BYTES)
        except PayloadError as exc:
            self._refuse(exc.reason, f"malformed desired state: {exc}")
            return None
        if desired.agent_id != self.agent_id:
            self._refuse("wrong_agent", f"desired state for {desired.agent_id!r}")
            return None
        if desired.generation <= self.generation:
            if desired.generation == self.generation:
                return None  # the retained copy of what we run, handed out on reconnect
            self._refuse("stale", f"generation {desired.generation} < applied {self.generation}")
            return None
        problems = self._check(desired)
        if problems:
            self._refuse("unreachable", "; ".join(problems)[:200])
            return None
        return desired

    def apply(self, desired: DesiredState) -> None:
        """Run ``desired`` (already persisted); errors met on the way are reported."""
        errors: list[str] = []
        if isinstance(self.source, AssignableSource):
            errors = self.source.apply(desired.sensors)
        elif desired.sensors:
            errors = [
                f"{len(desired.sensors)} sensor(s) assigned, but this agent reads its own "
                "source (start it with --source assigned to follow assignments)"
            ]
        if self.models is not None:
            self.models.apply(desired.models, desired.shadow)
        elif desired.models or desired.shadow:
            errors.append("model orders need the ONNX tier (onnxruntime) on this agent")
        self.generation = desired.generation
        self.alert_settings = desired.config.alerts
        self.errors = errors[:32]
        log.info(
            "applied desired state generation %d: %d sensor(s), %d model order(s)%s",
            desired.generation,
            len(desired.sensors),
            len(desired.models) + len(desired.shadow),
            f"; {len(errors)} error(s): {errors[0]}" if errors else "",
        )

    def resume(self, persisted: tuple[int, bytes] | None) -> None:
        """Apply the desired state persisted before a restart, if any (no uplink needed)."""
        if persisted is None:
            return
        desired = self.receive(persisted[1])
        if desired is not None:
            self.apply(desired)

    def reported(self, models: dict[str, ModelRef]) -> ReportedState:
        gaps: dict[str, int] = {}
        bad: dict[str, dict[str, int]] = {}
        if isinstance(self.source, AssignableSource):
            active = self.source.active()
            gaps, bad = self.source.problems()
        else:
            active = sorted(s.sensor_id for s in self.source.sensors)
        manager = self.models
        errors = [*self.errors, *(manager.problems() if manager is not None else [])]
        return ReportedState(
            generation=self.generation,
            active_sensors=active[:MAX_ASSIGNED],
            models=models,
            errors=[e[:200] for e in errors[:32]],
            refused=dict(self.refused),
            gaps={s: n for s, n in list(gaps.items())[:MAX_ASSIGNED] if n},
            bad_payloads=dict(list(bad.items())[:MAX_ASSIGNED]),
            models_refused=dict(manager.refused) if manager is not None else {},
            model_errors=manager.model_errors() if manager is not None else {},
            shadow=manager.shadow_reports() if manager is not None else {},
            model_key=manager.key_id() if manager is not None else None,
        )

    def _check(self, desired: DesiredState) -> list[str]:
        if isinstance(self.source, AssignableSource):
            return self.source.check(desired.sensors)
        return []

    def _refuse(self, reason: str, detail: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        self.errors = [f"refused desired state ({reason}): {detail}"[:200]]
        self._warn.warning(reason, "refused a desired state (%s): %s", reason, detail)
