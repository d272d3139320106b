"""From "who is alive" to "who watches what": placements, moves, handovers, events.

The strategy (``fleet.assignment``) decides the placement; the planner turns it into
what agents must run and what is recorded:

- a sensor whose owner is lost moves at once (its readings are due now);
- a **planned** move (a join, a rebalance, a pin) is a **handover**: the new owner
  starts the sensor first, and the old owner lets go only once readings of the new one
  have been stored (the duty checks; or after ``handover_timeout_s``), so a site sensor
  is never unwatched; the
  overlap is dropped at ingest by ``(sensor_id, ts)``;
- every change of owner is an ``AssignmentEvent`` (who, what, why).

Pure: inputs in, a ``Plan`` out, on an injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edgewatch.coordinator.fleet.assignment.contract import (
    AgentSpec,
    Assignment,
    AssignmentStrategy,
    SensorSpec,
)
from edgewatch.coordinator.store.records import AssignmentEvent, CatalogSensor, Placement
from edgewatch.shared.clock import SYSTEM, Clock


@dataclass(frozen=True)
class Handover:
    sensor_id: str
    from_agent: str
    to_agent: str
    started: float


@dataclass(frozen=True)
class Plan:
    placements: dict[str, Placement]
    unassigned: dict[str, str]
    handovers: dict[str, Handover]
    events: list[AssignmentEvent] = field(default_factory=list)

    def sensors_of(self, agent_id: str) -> list[str]:
        """What ``agent_id`` must run: what it owns, plus what it is handing over."""
        owned = {s for s, p in self.placements.items() if p.agent_id == agent_id}
        owned |= {s for s, h in self.handovers.items() if h.from_agent == agent_id}
        return sorted(owned)


def sensor_spec(sensor: CatalogSensor) -> SensorSpec:
    return SensorSpec(
        sensor_id=sensor.sensor_id,
        sensor_type=sensor.sensor_type,
        latitude=sensor.latitude,
        longitude=sensor.longitude,
        required_tier=sensor.required_tier,
        pinned_to=sensor.pinned_to,
    )


class Planner:
    def __init__(
        self,
        strategy: AssignmentStrategy,
        *,
        handover_timeout_s: float = 30.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.strategy = strategy
        self.handover_timeout_s = handover_timeout_s
        self.clock = clock

    def plan(
        self,
        groups: Sequence[tuple[Sequence[CatalogSensor], Sequence[AgentSpec]]],
        current: Mapping[str, Placement],
        handovers: Mapping[str, Handover],
        reason: str,
    ) -> Plan:
        """Place each group's sensors on that group's agents, starting from ``current``.

        Groups keep sensors with agents able to read them (a site sensor needs an agent
        with a site broker); each group is balanced on its own.
        """
        now = self.clock.time()
        available = {a.agent_id for _, agents in groups for a in agents}
        catalog = [s for sensors, _ in groups for s in sensors]
        placement: dict[str, str] = {}
        unassigned: dict[str, str] = {}
        for sensors, agents in groups:
            if not sensors:
                continue
            if not agents:
                # Not a tier problem (the strategy's words would be): nobody can read it.
                why = "no available agent can read its source (a site sensor needs --site-broker)"
                unassigned.update(dict.fromkeys((s.sensor_id for s in sensors), why))
                continue
            part = self.strategy.assign(
                [sensor_spec(s) for s in sensors],
                agents,
                {s: p.agent_id for s, p in current.items()},
            )
            placement.update(part.placement)
            unassigned.update(part.unassigned)
        assignment = Assignment(placement, unassigned)
        placements: dict[str, Placement] = {}
        moving = dict(handovers)
        events: list[AssignmentEvent] = []
        for sensor in catalog:
            sid = sensor.sensor_id
            old = current.get(sid)
            new = assignment.placement.get(sid)
            if new is None:
                if old is not None:
                    why = assignment.unassigned.get(sid, "no agent can take it")
                    events.append(AssignmentEvent(now, sid, old.agent_id, None, why))
                moving.pop(sid, None)
                continue
            if old is not None and old.agent_id == new:
                placements[sid] = old
                continue
            placements[sid] = Placement(new, now)
            from_agent = old.agent_id if old is not None else None
            why = reason
            if from_agent is None:
                why = "placed"
            elif from_agent not in available:
                why = "agent_lost"
            events.append(AssignmentEvent(now, sid, from_agent, new, why))
            # The agent that surely runs the sensor lets go last: during an unfinished
            # handover that is still the one it was being handed over from.
            runner = handovers[sid].from_agent if sid in handovers else from_agent
            if runner is not None and runner in available and runner != new:
                moving[sid] = Handover(sid, runner, new, now)
            else:
                moving.pop(sid, None)
        # A handover whose old owner is gone, or whose sensor moved on, is over.
        moving = {
            s: h
            for s, h in moving.items()
            if s in placements
            and placements[s].agent_id == h.to_agent
            and h.from_agent in available
        }
        return Plan(placements, dict(assignment.unassigned), moving, events)

    def progress(
        self, plan: Plan, running: Mapping[str, frozenset[str]], available: frozenset[str]
    ) -> Plan:
        """Finish the handovers whose new owner delivers the sensor (``running``: what each
        agent is seen delivering), and those that timed out."""
        now = self.clock.time()
        left = {
            s: h
            for s, h in plan.handovers.items()
            if h.from_agent in available
            and s not in running.get(h.to_agent, frozenset())
            and now - h.started < self.handover_timeout_s
        }
        if len(left) == len(plan.handovers):
            return plan
        return Plan(plan.placements, plan.unassigned, left, [])
