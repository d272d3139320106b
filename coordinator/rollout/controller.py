"""Staged rollouts: canary, soak, quality gate, promote or roll back; every step an event.

::

    start ──> canary ──(every online canary runs it)──> soaking ──(gate passes)──> promoted
                 │                                          │                      │
                 └──(refused / not loaded in time)──┐       └──(gate fails)──┐     │ (by hand)
                                                    v                        v     v
                                                 rolled_back <───────────────┴─────┘

``start`` with ``100%`` promotes at once. ``promote`` and ``rollback`` may also be called by
an operator (``POST /api/v1/rollouts/{id}/promote|rollback``). A transition, the model
statuses it implies (candidate → canary → active, the one before → retired; or →
rolled_back) and its event are one store transaction; the per-agent model orders that
follow (``orders.plan_orders``) go out with the next desired states.

Time is the injected clock's: the soak period, the readiness timeout and the gate are
tested without waiting. ``tick`` is called by the model duty's thread, the API's calls
come from other threads: one lock keeps them apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.fleet.desired_book import AgentOrders
from edgewatch.coordinator.models.errors import Conflict, Refused
from edgewatch.coordinator.rollout import canary, states
from edgewatch.coordinator.rollout.fleet_view import AgentView, FleetSource
from edgewatch.coordinator.rollout.gate import GateSettings, GateVerdict, judge
from edgewatch.coordinator.rollout.orders import RUNNING_STATES, plan_orders, targets
from edgewatch.coordinator.rollout.soak import gate_input, refusals_of
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import (
    ModelRecord,
    ModelStatus,
    Rollout,
    RolloutEvent,
)
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutSettings:
    gate: GateSettings = field(default_factory=GateSettings)


class RolloutController:
    def __init__(
        self,
        store: Store,
        fleet: FleetSource,
        settings: RolloutSettings | None = None,
        *,
        clock: Clock = SYSTEM,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.fleet = fleet
        self.settings = settings or RolloutSettings()
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.RLock()
        self._orders: dict[str, AgentOrders] = {}
        self._error_base: dict[tuple[int, str], int] = {}
        self.last_gate: dict[int, GateVerdict] = {}

    # -- orders ---------------------------------------------------------------------------------

    def orders(self) -> dict[str, AgentOrders]:
        """Per agent, what to run (cached; ``refresh`` recomputes). Lock-free and without
        I/O: the fleet duty calls it under its own lock while building desired states."""
        return self._orders

    def refresh(self, views: Sequence[AgentView] | None = None) -> bool:
        """Recompute the orders; True (and ``on_change``) when they changed."""
        # The fleet is read before the lock: its store reads never wait on our callers.
        views = self.fleet.agents() if views is None else views
        with self._lock:
            fresh = plan_orders(views, self.store.models(), self.store.rollouts(50))
            changed = fresh != self._orders
            self._orders = fresh
        if changed and self.on_change is not None:
            self.on_change()
        return changed

    # -- operator's calls ---------------------------------------------------------------------

    def start(self, model_id: int, spec: str, *, shadow: bool = False) -> Rollout:
        views = self.fleet.agents()  # before the lock (see ``refresh``)
        with self._lock:
            model = self._model(model_id)
            if model.status in ("active", "canary"):
                raise Conflict(f"model {model_id} is {model.status} already")
            running = states.running(self.store.rollouts(50), model.sensor_type, model.tier)
            if running is not None:
                raise Conflict(
                    f"rollout {running.id} of {model.sensor_type}/{model.tier} is still "
                    "running: promote or roll it back first"
                )
            models = self.store.models()
            choice = canary.choose(
                spec, model_id, targets(views, model.sensor_type, model.tier, models)
            )
            if shadow and choice.everyone:
                raise Refused("--shadow needs a canary (N% below 100, or agent ids)")
            now = self.clock.time()
            baseline = states.active(models, model.sensor_type, model.tier)
            rollout = Rollout(
                id=0,
                model_id=model_id,
                sensor_type=model.sensor_type,
                tier=model.tier,
                state="canary",
                canary_spec=spec,
                canary=choice.agents,
                shadow=shadow,
                baseline_model_id=baseline.id if baseline else None,
                started_at=now,
            )
            figures = {"canary": list(choice.agents), "version": model.version, "shadow": shadow}
            started = RolloutEvent(0, now, "started", f"canary {spec}", figures)
            if choice.everyone:
                done = replace(rollout, state="promoted", finished_at=now, reason="canary 100%")
                promoted = RolloutEvent(0, now, "promoted", "canary 100%: every agent at once")
                statuses = states.promotion(model, models)
                saved = self.store.commit_rollout(done, statuses, [started, promoted])
            else:
                saved = self.store.commit_rollout(rollout, {model_id: "canary"}, [started])
            log.info(
                "rollout %d of model %d (%s@%d): %s",
                saved.id,
                model_id,
                model.sensor_type,
                model.version,
                saved.state,
            )
        self.refresh(views)
        return saved

    def promote(
        self, rollout_id: int, reason: str = "operator", figures: dict[str, Any] | None = None
    ) -> Rollout:
        with self._lock:
            r = self._rollout(rollout_id)
            if r.state not in RUNNING_STATES:
                raise Conflict(f"rollout {rollout_id} is {r.state}: nothing to promote")
            model = self._model(r.model_id)
            now = self.clock.time()
            statuses = states.promotion(model, self.store.models())
            done = replace(r, state="promoted", finished_at=now, reason=reason)
            event = RolloutEvent(r.id, now, "promoted", reason, figures or {})
            saved = self.store.commit_rollout(done, statuses, [event])
            log.info("rollout %d promoted: %s", r.id, reason)
        self.refresh()
        return saved

    def rollback(
        self, rollout_id: int, reason: str = "operator", figures: dict[str, Any] | None = None
    ) -> Rollout:
        with self._lock:
            r = self._rollout(rollout_id)
            now = self.clock.time()
            statuses: dict[int, ModelStatus] = {r.model_id: "rolled_back"}
            if r.state == "promoted":
                if self._model(r.model_id).status != "active":
                    raise Conflict(
                        f"model {r.model_id} is not active any more: a later rollout replaced it"
                    )
                base = self.store.model(r.baseline_model_id) if r.baseline_model_id else None
                if base is not None and base.status == "retired":
                    statuses[base.id] = "active"
            elif r.state not in RUNNING_STATES:
                raise Conflict(f"rollout {rollout_id} is {r.state}: nothing to roll back")
            done = replace(r, state="rolled_back", finished_at=now, reason=reason)
            event = RolloutEvent(r.id, now, "rolled_back", reason, figures or {})
            saved = self.store.commit_rollout(done, statuses, [event])
            log.warning("rollout %d rolled back: %s", r.id, reason)
        self.refresh()
        return saved

    # -- the duty's tick ------------------------------------------------------------------------

    def tick(self) -> None:
        views = self.fleet.agents()
        for r in self.store.rollouts(50):
            try:
                if r.state in RUNNING_STATES:
                    self._progress(r, views)
                elif r.state == "promoted" and r.completed_at is None:
                    self._complete(r, views)
            except (Conflict, NotFoundError) as exc:  # an operator got there first
                log.info("rollout %d: %s", r.id, exc)
        self.refresh()

    def _progress(self, r: Rollout, views: Sequence[AgentView]) -> None:
        model = self._model(r.model_id)
        now = self.clock.time()
        # A canary stops being one when it no longer runs this tier's models of the type
        # (a higher tier's model became active for it, it left the type).
        still = {v.agent_id for v in targets(views, r.sensor_type, r.tier, self.store.models())}
        mine = [v for v in views if v.agent_id in r.canary and v.agent_id in still]
        if not mine and any(v.agent_id in r.canary for v in views):
            self.rollback(r.id, f"no canary runs {r.tier} models of {r.sensor_type} any more")
            return
        refused = refusals_of(mine, model)
        if refused:
            self.rollback(r.id, f"a canary refused the model: {refused[0]}", {"refusals": refused})
            return
        if r.state == "canary":
            ready = [v.agent_id for v in mine if states.runs(v, r, model)]
            online = {v.agent_id for v in mine if v.online}
            waited = now - r.started_at
            if ready and online <= set(ready):
                self._soak(r, mine, ready, "every online canary runs the model")
            elif waited > self.settings.gate.ready_timeout_s:
                if ready:
                    self._soak(r, mine, ready, f"{len(ready)} of {len(r.canary)} canaries run it")
                else:
                    self.rollback(r.id, f"no canary ran the model within {waited:.0f} s")
            return
        verdict = judge(
            gate_input(self.store, r, model, views, self._error_base, self.settings.gate),
            self.settings.gate,
            now - (r.soak_started_at or now),
        )
        self.last_gate[r.id] = verdict
        if verdict.decision == "pass":
            self.promote(r.id, "quality gate passed", verdict.figures)
        elif verdict.decision == "fail":
            self.rollback(r.id, "quality gate: " + "; ".join(verdict.reasons), verdict.figures)

    def _soak(self, r: Rollout, mine: Sequence[AgentView], ready: list[str], why: str) -> None:
        now = self.clock.time()
        for v in mine:
            base = v.reported.model_errors.get(r.sensor_type, 0) if v.reported else 0
            self._error_base[(r.id, v.agent_id)] = base
        soaking = replace(r, state="soaking", soak_started_at=now)
        event = RolloutEvent(r.id, now, "soaking", why, {"ready": ready})
        with self._lock:
            self.store.commit_rollout(soaking, {}, [event])

    def _complete(self, r: Rollout, views: Sequence[AgentView]) -> None:
        model = self.store.model(r.model_id)
        if model is None or model.status != "active":
            return
        everyone = [
            v for v in targets(views, r.sensor_type, r.tier, self.store.models()) if v.online
        ]
        if all(states.runs(v, replace(r, shadow=False), model) for v in everyone):
            now = self.clock.time()
            event = RolloutEvent(r.id, now, "completed", f"{len(everyone)} online agent(s) run it")
            with self._lock:
                self.store.commit_rollout(replace(r, completed_at=now), {}, [event])

    # -- helpers ----------------------------------------------------------------------------------

    def _model(self, model_id: int) -> ModelRecord:
        model = self.store.model(model_id)
        if model is None:
            raise NotFoundError("model", str(model_id))
        return model

    def _rollout(self, rollout_id: int) -> Rollout:
        r = self.store.rollout(rollout_id)
        if r is None:
            raise NotFoundError("rollout", str(rollout_id))
        return r
