"""What a rollout needs to know about the fleet: each agent's tier, the sensor types it
handles, and the models it reports running.

An agent handles a type when sensors of that type are placed on it (the fleet plan), it
announced them as its own (its hello), the store last received readings of them from it,
or it runs a model of that type. ``LiveFleet`` reads the coordinator's registry, plan and
store; tests build views directly (``StaticFleet``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.store import SensorStore
from edgewatch.shared.schemas import ModelRef, ReportedState

TIER_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    tier: str
    online: bool
    types: frozenset[str]
    running: Mapping[str, ModelRef] = field(default_factory=dict)
    reported: ReportedState | None = None


class FleetSource(Protocol):
    def agents(self) -> list[AgentView]:
        """Every agent the coordinator knows, in id order."""
        ...


@dataclass
class StaticFleet:
    """A fleet given as views (tests, benchmarks); change ``views`` to move it."""

    views: list[AgentView]

    def agents(self) -> list[AgentView]:
        return sorted(self.views, key=lambda v: v.agent_id)


class LiveFleet:
    """The coordinator's own fleet: registry records, plan placements, store activity."""

    def __init__(
        self,
        fleet: FleetRegistry,
        sensors: SensorStore,
        placed: Callable[[], Mapping[str, set[str]]],
        *,
        activity_s: float = 5.0,
    ) -> None:
        self._fleet = fleet
        self._sensors = sensors
        self._placed = placed
        self._activity_s = activity_s
        self._activity: dict[str, set[str]] = {}
        self._read_at = float("-inf")

    def _sent(self) -> dict[str, set[str]]:
        now = time.monotonic()
        if now - self._read_at >= self._activity_s:
            found: dict[str, set[str]] = {}
            for s in self._sensors.sensors():
                found.setdefault(s.agent_id, set()).add(s.sensor_type)
            self._activity, self._read_at = found, now
        return self._activity

    def agents(self) -> list[AgentView]:
        placed = self._placed()
        sent = self._sent()
        views = []
        for rec in sorted(self._fleet.all(), key=lambda r: r.id):
            beat = rec.heartbeat or {}
            raw = beat.get("reported")
            reported = ReportedState.model_validate(raw) if isinstance(raw, dict) else None
            types = set(placed.get(rec.id, set())) | sent.get(rec.id, set()) | set(rec.models)
            types |= {s.sensor_type for s in rec.own_sensors}
            views.append(
                AgentView(
                    agent_id=rec.id,
                    tier=rec.tier or "low",
                    online=rec.state == "online",
                    types=frozenset(types),
                    running=dict(rec.models),
                    reported=reported,
                )
            )
        return views
