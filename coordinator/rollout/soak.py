"""What the quality gate sees of a soaking canary: figures gathered from the store and the
agents' reports (``gate.GateInput``).

- Canary side: the canary agents' readings of the type judged by the candidate
  (``onnx:<type>@<version>``) since the soak began, from the re-scoring consumer's
  verdict figures (``VerdictStore.verdict_window``).
- Baseline: the readings the model being replaced judged: the other target agents'
  over the same period; when they have too few (a small fleet, every target a canary),
  the canaries' own in the soak-long period before the rollout began. A type that had
  no model (the rules judged it) is held to the candidate's own held-back evaluation:
  rules and a model do not flag the same things, so their rates say nothing of each
  other.
- Shadow rollouts compare on the very same readings: the candidate's verdicts (tallied
  by the agents, ``reported.shadow``) against the deciding scorer's.
- Errors: scoring errors the canaries counted for the type since the soak began; a
  canary naming the candidate among its refusals (``reported.errors``).
- Cloud agreement: the canaries' re-scored readings, when the type had an active model
  (the cloud's reference); a first model has no trusted reference to agree with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from edgewatch.coordinator.rollout.fleet_view import AgentView
from edgewatch.coordinator.rollout.gate import GateInput, GateSettings, Side, rank_shift
from edgewatch.coordinator.rollout.orders import targets
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import ModelRecord, Rollout, VerdictCounts
from edgewatch.shared.modelpack import refusal_prefix
from edgewatch.shared.scoring import scorer_name


def refusals_of(views: Iterable[AgentView], model: ModelRecord) -> list[str]:
    prefix = refusal_prefix(model.sensor_type, model.version)
    return [
        f"{v.agent_id}: {e}"
        for v in views
        if v.reported is not None
        for e in v.reported.errors
        if e.startswith(prefix)
    ]


def _sum(counts: Iterable[VerdictCounts]) -> VerdictCounts:
    total = VerdictCounts("", "", "")
    for c in counts:
        total = total.plus(c)
    return total


def _minus(a: VerdictCounts, b: VerdictCounts) -> Side:
    return Side(max(0, a.readings - b.readings), max(0, a.anomalies - b.anomalies))


def gate_input(
    store: Store,
    r: Rollout,
    model: ModelRecord,
    views: Sequence[AgentView],
    error_base: Mapping[tuple[int, str], int],
    settings: GateSettings,
) -> GateInput:
    mine = [v for v in views if v.agent_id in r.canary]
    refused = tuple(refusals_of(mine, model))
    if r.shadow:
        return _shadow_input(r, model, mine, refused)
    since = r.soak_started_at or r.started_at
    name = scorer_name(model.sensor_type, model.version)
    window = [c for c in store.verdict_window(since) if c.sensor_type == r.sensor_type]
    canary = _sum(c for c in window if c.agent_id in r.canary and c.scorer == name)
    previous = store.model(r.baseline_model_id) if r.baseline_model_id is not None else None
    if previous is None:
        baseline, kind = _evaluated(model), "the candidate's held-back evaluation"
    else:
        old = scorer_name(previous.sensor_type, previous.version)
        others = {v.agent_id for v in targets(views, r.sensor_type, r.tier, store.models())}
        others -= set(r.canary)
        base = _sum(c for c in window if c.agent_id in others and c.scorer == old)
        baseline, kind = Side(base.readings, base.anomalies), f"other agents on {old}"
        if baseline.readings < settings.min_readings:
            before = _before(store, r, old, settings.soak_s)
            if before.readings > baseline.readings:
                baseline, kind = before, f"canaries on {old} before the rollout"
    errors = sum(
        max(
            0, v.reported.model_errors.get(r.sensor_type, 0) - error_base.get((r.id, v.agent_id), 0)
        )
        for v in mine
        if v.reported is not None
    )
    # The cloud judges with the active model: a reference only when there was one (a
    # first model would be compared with another candidate).
    reference = previous is not None
    return GateInput(
        canary=Side(canary.readings, canary.anomalies),
        baseline=baseline,
        baseline_kind=kind,
        errors=errors,
        refusals=refused,
        shift=rank_shift(canary.ranks) if any(canary.ranks) else None,
        rescored=canary.rescored if reference else 0,
        agreed=canary.agreed if reference else 0,
    )


def _evaluated(model: ModelRecord) -> Side:
    e = model.evaluation
    if e is None:
        return Side()
    return Side(e.rows, round(e.anomaly_rate * e.rows))


def _before(store: Store, r: Rollout, old: str, soak_s: float) -> Side:
    """The canaries' readings judged by ``old`` in the soak-long period before the start."""

    def mine(since: float) -> VerdictCounts:
        return _sum(
            c
            for c in store.verdict_window(since)
            if c.agent_id in r.canary and c.sensor_type == r.sensor_type and c.scorer == old
        )

    return _minus(mine(r.started_at - soak_s), mine(r.started_at))


def _shadow_input(
    r: Rollout, model: ModelRecord, mine: Sequence[AgentView], refused: tuple[str, ...]
) -> GateInput:
    readings = anomalies = live = errors = 0
    for v in mine:
        report = v.reported.shadow.get(r.sensor_type) if v.reported else None
        if report is not None and report.version == model.version:
            readings += report.readings
            anomalies += report.anomalies
            live += report.live_anomalies
            errors += report.errors
    return GateInput(
        canary=Side(readings, anomalies),
        baseline=Side(readings, live),
        baseline_kind="the deciding scorer on the same readings (shadow)",
        errors=errors,
        refusals=refused,
    )
