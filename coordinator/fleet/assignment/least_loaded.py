"""``least_loaded``: more sensors to the agents with the most headroom, and sticky.

An agent's load score is the original notebook's, from its last heartbeat,
``cpu + memory + (100 - battery) * 0.5`` (percent; each 0-100, the battery term 0-50),
plus two terms the notebook lacked:

* backlog: ``25 * log10(1 + outbox_rows / 100)`` points. A deep outbox means the uplink
  cannot keep up; each tenfold of backlog (1k, 10k, 100k rows) weighs as much as half a
  drained battery, and a log keeps one stalled agent's million rows from dwarfing all
  else;
* sensors held: ``100 * held / mean`` points, so holding the fleet's mean count of
  sensors weighs as much as a CPU at 100 %. This is the notebook's missing feedback: it
  gave every reading to the one lowest-scoring device, whatever it already had.

Unknown CPU or memory counts as 50 % (neither idle nor busy); no battery figure means
mains power, 0 points. Splitting the sensors so that every agent ends at the same total
score is a water-filling in which an agent starts ``heartbeat score * mean / 100``
sensors deep (``balance.Vessel.offset``): that split is this strategy's fair share. Its
band (``balance.band``) is further capped by the count band, so it honours the same
``ceil(1.25 * fair share)`` bound as the others: a busy agent gets fewer sensors, an idle
one at most a quarter more than an even split.

Heartbeats fluctuate and an agent's CPU follows the sensors it is given; the band is
what stops that feedback from moving sensors on every heartbeat: nothing moves while
every agent is inside its band, and when something must, the fewest sensors move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from edgewatch.coordinator.fleet.assignment.balance import (
    Bounds,
    Vessel,
    band,
    count_bounds,
    fair_shares,
)
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import RANK, Admission, admit
from edgewatch.coordinator.fleet.assignment.plan import rebalance

UNKNOWN_PERCENT = 50.0  # CPU or memory without a heartbeat figure
BACKLOG_POINTS = 25.0  # per tenfold of outbox rows (above 100)
HELD_POINTS = 100.0  # for holding the fleet's mean number of sensors


def heartbeat_score(agent: AgentSpec) -> float:
    """The notebook's load score plus the backlog term (higher: more loaded)."""
    cpu = UNKNOWN_PERCENT if agent.cpu_percent is None else agent.cpu_percent
    memory = UNKNOWN_PERCENT if agent.memory_percent is None else agent.memory_percent
    battery = 100.0 if agent.battery_percent is None else agent.battery_percent
    backlog = BACKLOG_POINTS * math.log10(1 + max(agent.outbox_rows, 0) / 100)
    return cpu + memory + (100.0 - battery) * 0.5 + backlog


class LeastLoaded:
    """Sensors split so every agent ends at about the same score, moving the fewest."""

    name = "least_loaded"

    def bounds(self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec]) -> Bounds:
        return weighted_bounds(admit(sensors, agents, {}))

    def assign(
        self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], current: Mapping[str, str]
    ) -> Assignment:
        admission = admit(sensors, agents, current)
        scores = {a.agent_id: heartbeat_score(a) for a in admission.agents}

        def place(movers: Sequence[SensorSpec], quotas: Mapping[str, int]) -> dict[str, str]:
            # Counts are the flow's; which mover goes where does not change any score.
            order = sorted((a for a in quotas if quotas[a]), key=lambda a: (scores[a], a))
            slots = [a for a in order for _ in range(quotas[a])]
            return {s.sensor_id: a for s, a in zip(movers, slots, strict=True)}

        return rebalance(
            admission, current, weighted_bounds(admission), keep_order=_by_id, place=place
        )


def weighted_bounds(admission: Admission) -> Bounds:
    """The band around the score-levelling split, inside the count band."""
    counts = count_bounds(admission)
    placed = len(admission.free) + len(admission.pinned)
    if not admission.agents or not placed:
        return counts
    mean = Fraction(placed, len(admission.agents))
    vessels = [
        Vessel(
            a.agent_id,
            RANK[a.tier],
            admission.pins[a.agent_id],
            counts.high[a.agent_id],
            # Scores to 0.01 point: exact fractions without binary-float noise.
            Fraction(round(heartbeat_score(a) * 100), 100) * mean / Fraction(HELD_POINTS),
        )
        for a in admission.agents
    ]
    caps: dict[str, int | None] = dict(counts.high)
    return band(admission, fair_shares(vessels, admission.demand()), caps=caps)


def _by_id(agent_id: str, sensors: Sequence[SensorSpec]) -> list[SensorSpec]:
    return sorted(sensors, key=lambda s: s.sensor_id)
