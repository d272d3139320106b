"""``round_robin``: sensors dealt in id order to the agents in id order, in turn.

The baseline. It ignores ``current`` (so any change of fleet may reshuffle most sensors,
which the balance figures show), but it honours tiers, capacities, pins and the band:
the flow of ``plan`` sets how many sensors of each tier every agent gets (as near its
fair share as the tiers allow), and the deal skips an agent once it has its count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgewatch.coordinator.fleet.assignment.balance import Bounds, count_bounds
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import admit
from edgewatch.coordinator.fleet.assignment.plan import rebalance


class RoundRobin:
    """Deal sensors like cards; stateless, so the same fleet always gets the same deal."""

    name = "round_robin"

    def bounds(self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec]) -> Bounds:
        return count_bounds(admit(sensors, agents, {}))

    def assign(
        self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], current: Mapping[str, str]
    ) -> Assignment:
        admission = admit(sensors, agents, {})
        return rebalance(
            admission, {}, count_bounds(admission), keep_order=_unused, place=deal, sticky=False
        )


def deal(movers: Sequence[SensorSpec], quotas: Mapping[str, int]) -> dict[str, str]:
    """Each sensor (in id order) to the next agent (in id order) that has room left."""
    order = sorted(quotas)
    left = dict(quotas)
    placement: dict[str, str] = {}
    turn = 0
    for sensor in sorted(movers, key=lambda s: s.sensor_id):
        while not left[order[turn % len(order)]]:
            turn += 1
        agent_id = order[turn % len(order)]
        placement[sensor.sensor_id] = agent_id
        left[agent_id] -= 1
        turn += 1
    return placement


def _unused(agent_id: str, sensors: Sequence[SensorSpec]) -> list[SensorSpec]:
    raise AssertionError("round_robin keeps no sensor home")  # sticky=False: never called
