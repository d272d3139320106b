"""Which model each agent is to run, per sensor type: the registry and the rollouts decide.

Rules, per agent and per sensor type it handles:

- ``low`` agents run no model (rules; the cloud re-scores all their readings);
- a ``medium`` agent runs ``medium`` models, a ``high`` agent the ``high`` model of a
  type when there is one, else the ``medium`` one (a tier's model must fit the device);
- at that tier: a canary of a running rollout runs the candidate (or keeps its model and
  runs the candidate in **shadow**); every other agent runs the ``active`` model, or
  the rules when there is none;
- ``rollback`` is set when the ordered version is older than a version of the type that
  was already out (active, retired or rolled back): the agent may then go back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edgewatch.coordinator.fleet.desired_book import AgentOrders
from edgewatch.coordinator.rollout.fleet_view import TIER_RANK, AgentView
from edgewatch.coordinator.store.model_records import ModelRecord, Rollout
from edgewatch.shared.desired import ModelOrder

TIERS_HIGH_FIRST = ("high", "medium")
RUNNING_STATES = ("canary", "soaking")


def tiers_for(agent_tier: str) -> list[str]:
    """Model tiers an agent of ``agent_tier`` can run, preferred first."""
    rank = TIER_RANK.get(agent_tier, 0)
    return [t for t in TIERS_HIGH_FIRST if 0 < TIER_RANK[t] <= rank]


def plan_orders(
    views: Iterable[AgentView], models: Iterable[ModelRecord], rollouts: Iterable[Rollout]
) -> dict[str, AgentOrders]:
    """The orders of every agent that gets at least one (others run rules)."""
    by_id = {m.id: m for m in models}
    active: dict[tuple[str, str], ModelRecord] = {
        (m.sensor_type, m.tier): m for m in by_id.values() if m.status == "active"
    }
    out: dict[str, int] = {}
    for m in by_id.values():
        # A running canary does not count: the fleet's documents stay as they are while
        # it soaks; once rolled back it does (its canaries then go back).
        if m.status not in ("candidate", "canary"):
            out[m.sensor_type] = max(out.get(m.sensor_type, 0), m.version)
    running: dict[tuple[str, str], Rollout] = {
        (r.sensor_type, r.tier): r for r in rollouts if r.state in RUNNING_STATES
    }
    found: dict[str, AgentOrders] = {}
    for view in views:
        live: dict[str, ModelOrder] = {}
        shadow: dict[str, ModelOrder] = {}
        for sensor_type in sorted(view.types):
            for tier in tiers_for(view.tier):
                rollout = running.get((sensor_type, tier))
                candidate = by_id.get(rollout.model_id) if rollout is not None else None
                if (
                    rollout is not None
                    and candidate is not None
                    and view.agent_id in rollout.canary
                ):
                    if not rollout.shadow:
                        live[sensor_type] = _order(candidate, out)
                        break
                    shadow[sensor_type] = _order(candidate, out)
                current = active.get((sensor_type, tier))
                if current is not None:
                    live[sensor_type] = _order(current, out)
                    break
        if live or shadow:
            found[view.agent_id] = AgentOrders(live, shadow)
    return found


def _order(model: ModelRecord, out: Mapping[str, int]) -> ModelOrder:
    return ModelOrder(
        version=model.version,
        sha256=model.sha256,
        rollback=model.version < out.get(model.sensor_type, 0),
    )


def targets(
    views: Iterable[AgentView], sensor_type: str, tier: str, models: Iterable[ModelRecord]
) -> list[AgentView]:
    """Agents that run the (type, tier) model once it is active: they handle the type, can
    run the tier, and have no active model of a tier they prefer."""
    active_tiers = {m.tier for m in models if m.status == "active" and m.sensor_type == sensor_type}
    found = []
    for view in views:
        usable = tiers_for(view.tier)
        if sensor_type not in view.types or tier not in usable:
            continue
        preferred = usable[: usable.index(tier)]
        if not any(t in active_tiers for t in preferred):
            found.append(view)
    return found
