"""``consistent_hash``: rendezvous hashing with bounded loads, and sticky.

Every (sensor, agent) pair has a stable pseudo-random weight, ``blake2b`` of the two ids
(never Python's ``hash``, which is salted per process): a sensor prefers the agents in
order of weight (highest random weight, Thaler and Ravishankar 1998). Loads are bounded
as in consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018):
no agent above ``ceil(1.25 * fair share)``, see ``balance``.

Placed from scratch, each agent gets about its fair share, and the sensors it gets are
those that weigh it highest (pairs are taken in descending weight while the agent has
room). After that the placement is sticky: sensors stay while their agent is present
and inside its band; when some must move (``plan``), an agent sheds the sensors that
weigh it least, and each mover goes to the agent it weighs most among those taking
arrivals. So which sensors an agent holds follows the ids wherever the band allows,
and a coordinator that lost ``current`` computes the same fresh placement every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from edgewatch.coordinator.fleet.assignment.balance import Bounds, count_bounds
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import admit
from edgewatch.coordinator.fleet.assignment.plan import rebalance


def weight(sensor_id: str, agent_id: str) -> int:
    """The pair's rendezvous weight: 64 bits of blake2b, the same in every process."""
    digest = hashlib.blake2b(f"{sensor_id}\x00{agent_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class ConsistentHash:
    """Rendezvous hashing with bounded loads (c = 1.25), moving the fewest sensors."""

    name = "consistent_hash"

    def bounds(self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec]) -> Bounds:
        return count_bounds(admit(sensors, agents, {}))

    def assign(
        self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], current: Mapping[str, str]
    ) -> Assignment:
        admission = admit(sensors, agents, current)
        return rebalance(
            admission, current, count_bounds(admission), keep_order=keep_order, place=place
        )


def keep_order(agent_id: str, sensors: Sequence[SensorSpec]) -> list[SensorSpec]:
    """The agent keeps the sensors that weigh it most."""
    return sorted(sensors, key=lambda s: (-weight(s.sensor_id, agent_id), s.sensor_id))


def place(movers: Sequence[SensorSpec], quotas: Mapping[str, int]) -> dict[str, str]:
    """Pairs in descending weight; a pair is taken while its agent has arrivals left."""
    pairs = sorted(
        (-weight(s.sensor_id, a), s.sensor_id, a) for s in movers for a in quotas if quotas[a]
    )
    left = dict(quotas)
    placement: dict[str, str] = {}
    for _, sensor_id, agent_id in pairs:
        if sensor_id not in placement and left[agent_id]:
            placement[sensor_id] = agent_id
            left[agent_id] -= 1
    return placement
