"""What a rollout needs to know about the fleet: each agent's tier, the sensor types it
handles, and the models it reports running.

An agent handles a type when sensors of that type are placed on it (the fleet plan), it
announced them as its own (its hello), the store last received readings of them from it,
or it runs a model of that type. ``LiveFleet`` reads the coordinator's registry and the
store (plan, activity); tests build views directly (``StaticFleet``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.store import CatalogStore, PlanStore, SensorStore
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


class _FleetStore(SensorStore, CatalogStore, PlanStore, Protocol):
    """The store's concerns a live view reads."""


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
    """The coordinator's own fleet: registry records, and from the store the plan's
    placements (what the fleet duty committed) and who sent readings of what.

    The store's parts are re-read at most every ``activity_s``: the fleet duty asks for
    model orders under its own lock, so this never asks the fleet duty anything.
    """

    def __init__(self, fleet: FleetRegistry, store: _FleetStore, *, activity_s: float = 2.0):
        self._fleet = fleet
        self._store = store
        self._activity_s = activity_s
        self._types: dict[str, set[str]] = {}
        self._read_at = float("-inf")

    def _store_types(self) -> dict[str, set[str]]:
        now = time.monotonic()
        if now - self._read_at >= self._activity_s:
            found: dict[str, set[str]] = {}
            for s in self._store.sensors():  # where readings came from
                found.setdefault(s.agent_id, set()).add(s.sensor_type)
            kinds = {c.sensor_id: c.sensor_type for c in self._store.catalog()}
            for sid, p in self._store.placements().items():  # the fleet plan
                if sid in kinds:
                    found.setdefault(p.agent_id, set()).add(kinds[sid])
            self._types, self._read_at = found, now
        return self._types

    def agents(self) -> list[AgentView]:
        known = self._store_types()
        views = []
        for rec in sorted(self._fleet.all(), key=lambda r: r.id):
            beat = rec.heartbeat or {}
            raw = beat.get("reported")
            reported = ReportedState.model_validate(raw) if isinstance(raw, dict) else None
            types = set(known.get(rec.id, set())) | set(rec.models)
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
