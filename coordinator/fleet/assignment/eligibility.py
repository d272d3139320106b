"""Who may watch what: tiers, capacity and pins, applied before any strategy chooses.

Tiers are ranked low < medium < high, and an agent may take a sensor iff its rank is at
least the sensor's ``required_tier``: a low-tier agent (threshold rules only) takes only
rule-scored sensors, sensors that need a model go to medium or high. Because the ranks
are nested, "most restricted first" is an exact greedy: placing the high sensors, then
the medium ones, then the low ones into whatever room is left places as many sensors as
any assignment could.

``admit`` turns the fleet into what strategies work on: the pins that hold, the sensors
no agent can take (with the reason), and the free sensors left to place. Capacity is a
hard cap; ``None`` means no cap beyond the strategy's balance bound (there is no default
per tier: an operator who wants one configures it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, SensorSpec, Tier

TIERS: tuple[Tier, ...] = ("low", "medium", "high")
RANK: Mapping[Tier, int] = {tier: i for i, tier in enumerate(TIERS)}


def can_take(agent: AgentSpec, sensor: SensorSpec) -> bool:
    """Whether ``agent``'s tier is enough for ``sensor``."""
    return RANK[agent.tier] >= RANK[sensor.required_tier]


@dataclass(frozen=True, slots=True)
class Admission:
    """The fleet as strategies see it. Agents and free sensors are sorted by id."""

    agents: tuple[AgentSpec, ...]
    pinned: Mapping[str, str]  # honoured pins, sensor id -> agent id
    unhonoured_pins: Mapping[str, str]  # sensor id -> why its pin does not hold
    unassigned: Mapping[str, str]  # sensor id -> why no agent can take it
    free: tuple[SensorSpec, ...]  # every other sensor: the strategy places these
    pins: Mapping[str, int]  # honoured pins per agent id (every agent, 0 if none)

    def room(self, agent: AgentSpec) -> int | None:
        """Free sensors ``agent`` can still take under its capacity (None: no cap)."""
        return None if agent.capacity is None else agent.capacity - self.pins[agent.agent_id]

    def demand(self) -> tuple[int, int, int]:
        """Free sensors per required tier rank (low, medium, high)."""
        counts = [0, 0, 0]
        for sensor in self.free:
            counts[RANK[sensor.required_tier]] += 1
        return counts[0], counts[1], counts[2]


def valid_home(
    sensor: SensorSpec, agents: Mapping[str, AgentSpec], current: Mapping[str, str]
) -> str | None:
    """The agent ``current`` places ``sensor`` on, if it is present and may take it."""
    agent = agents.get(current.get(sensor.sensor_id, ""))
    return agent.agent_id if agent is not None and can_take(agent, sensor) else None


def admit(
    sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], current: Mapping[str, str]
) -> Admission:
    """Apply pins, then drop what cannot fit, keeping sensors already well placed first.

    Raises ValueError on duplicate ids or a negative capacity: those are caller bugs.
    """
    by_id = _index(agents)
    ordered = sorted(sensors, key=lambda s: s.sensor_id)
    if len({s.sensor_id for s in ordered}) != len(ordered):
        raise ValueError("duplicate sensor id")
    pins = dict.fromkeys(by_id, 0)
    pinned: dict[str, str] = {}
    unhonoured: dict[str, str] = {}
    rest: list[SensorSpec] = []
    for sensor in ordered:
        reason = _pin_problem(sensor, by_id, pins) if sensor.pinned_to is not None else None
        if sensor.pinned_to is not None and reason is None:
            pinned[sensor.sensor_id] = sensor.pinned_to
            pins[sensor.pinned_to] += 1
            continue
        if reason is not None:
            unhonoured[sensor.sensor_id] = reason
        rest.append(sensor)
    free, unassigned = _fit(rest, by_id, pins, current)
    return Admission(tuple(by_id.values()), pinned, unhonoured, unassigned, free, pins)


def _index(agents: Sequence[AgentSpec]) -> dict[str, AgentSpec]:
    by_id = {a.agent_id: a for a in sorted(agents, key=lambda a: a.agent_id)}
    if len(by_id) != len(agents):
        raise ValueError("duplicate agent id")
    if any(a.capacity is not None and a.capacity < 0 for a in agents):
        raise ValueError("negative agent capacity")
    return by_id


def _pin_problem(
    sensor: SensorSpec, agents: Mapping[str, AgentSpec], pins: dict[str, int]
) -> str | None:
    agent = agents.get(sensor.pinned_to or "")
    if agent is None:
        return f"pinned agent {sensor.pinned_to!r} is not present"
    if not can_take(agent, sensor):
        return (
            f"pinned agent {agent.agent_id!r} is {agent.tier} tier;"
            f" the sensor needs {sensor.required_tier} or higher"
        )
    if agent.capacity is not None and pins[agent.agent_id] >= agent.capacity:
        return f"pinned agent {agent.agent_id!r} is at capacity"
    return None


def _fit(
    sensors: list[SensorSpec],
    agents: Mapping[str, AgentSpec],
    pins: Mapping[str, int],
    current: Mapping[str, str],
) -> tuple[tuple[SensorSpec, ...], dict[str, str]]:
    """Keep as many sensors as the capacities allow, most restricted tier first."""
    kept: list[SensorSpec] = []
    unassigned: dict[str, str] = {}
    used = 0  # room taken by higher tiers, all of it inside this tier's agents too
    for rank in reversed(range(len(TIERS))):
        eligible = [a for a in agents.values() if RANK[a.tier] >= rank]
        caps = [a.capacity - pins[a.agent_id] for a in eligible if a.capacity is not None]
        unlimited = len(caps) < len(eligible)
        room = None if unlimited else sum(caps) - used
        tier_sensors = [s for s in sensors if RANK[s.required_tier] == rank]
        # Sensors on a valid agent already go first: dropping them would be a change.
        tier_sensors.sort(key=lambda s: (valid_home(s, agents, current) is None, s.sensor_id))
        take = len(tier_sensors) if room is None else min(len(tier_sensors), room)
        kept += tier_sensors[:take]
        used += take
        reason = (
            f"no agent of tier >= {TIERS[rank]}"
            if not eligible
            else "all eligible agents at capacity"
        )
        unassigned.update((s.sensor_id, reason) for s in tier_sensors[take:])
    return tuple(sorted(kept, key=lambda s: s.sensor_id)), unassigned
