"""The assignment contract: what a strategy is given, what it answers, and its promise.

A strategy is a pure function of ``(sensors, agents, current)``: no clock, no I/O, no
randomness, no dependence on the order of dicts or sequences (everything that needs an
order is sorted by id). ``current`` is the placement in force, sensor id -> agent id; it
may name agents that are gone and sensors that no longer exist.

Every strategy also says which loads it promises (``bounds``), so one contract suite
can hold each implementation to its own word (``tests/coordinator/fleet``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from edgewatch.coordinator.fleet.assignment.balance import Bounds

Tier = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor to be watched. ``required_tier`` is "low" for rule-scored sensors and
    "medium" (or "high") for those that need a model; ``pinned_to`` is an operator's pin."""

    sensor_id: str
    sensor_type: str
    latitude: float | None
    longitude: float | None
    required_tier: Tier = "low"
    pinned_to: str | None = None


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent able to watch sensors, with its last heartbeat's figures (None: unknown).

    ``capacity`` is a hard cap on its sensor count (None: only the balance bound caps it);
    ``battery_percent`` is None on mains power.
    """

    agent_id: str
    tier: Tier
    latitude: float | None = None
    longitude: float | None = None
    capacity: int | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    battery_percent: float | None = None
    outbox_rows: int = 0


@dataclass(frozen=True, slots=True)
class Assignment:
    """A strategy's answer.

    ``placement``: sensor id -> agent id, for every sensor that could be placed.
    ``unassigned``: sensor id -> why no agent can take it (every other sensor).
    ``unhonoured_pins``: sensor id -> why its pin could not be followed; such a sensor is
    placed like an unpinned one and goes back when the reason goes away.
    """

    placement: Mapping[str, str]
    unassigned: Mapping[str, str] = field(default_factory=dict)
    unhonoured_pins: Mapping[str, str] = field(default_factory=dict)

    def moves_from(self, current: Mapping[str, str]) -> int:
        """Sensors that ``current`` placed and this assignment places on another agent.

        Placing a new sensor, or dropping one, hands nothing over, so neither is a move.
        """
        return sum(1 for s, a in self.placement.items() if s in current and current[s] != a)

    def loads(self) -> dict[str, int]:
        """Sensor count per agent that holds at least one."""
        counts: dict[str, int] = {}
        for agent_id in self.placement.values():
            counts[agent_id] = counts.get(agent_id, 0) + 1
        return counts


class AssignmentStrategy(Protocol):
    """Decides which agent watches which sensor (chosen by name, see ``registry``)."""

    @property
    def name(self) -> str:
        """The name operators select it by."""
        ...

    def bounds(self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec]) -> Bounds:
        """The per-agent sensor counts every ``assign`` of this fleet stays within."""
        ...

    def assign(
        self,
        sensors: Sequence[SensorSpec],
        agents: Sequence[AgentSpec],
        current: Mapping[str, str],
    ) -> Assignment:
        """Place every sensor some agent can take; say why for the others."""
        ...
