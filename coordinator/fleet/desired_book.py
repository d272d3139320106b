"""Each agent's desired state: built from the plan, versioned, stored, published retained.

A new generation is issued only when what an agent must run changes (its sensors, and
later its models and config); the document is committed to the store before it is
published, so a restarted coordinator republishes exactly what it had (``publish_all``),
and an agent never sees a generation go back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from edgewatch.coordinator.fleet.planner import Plan
from edgewatch.coordinator.store import CatalogSensor, StoredDesired
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.desired import AssignedSensor, ConfigOverrides, DesiredState, ModelOrder

Publish = Callable[[str, bytes], None]  # (agent_id, document) -> retained QoS 1 publish


@dataclass(frozen=True)
class AgentOrders:
    """The models one agent is to run (``live``) and to try in shadow, per sensor type."""

    live: Mapping[str, ModelOrder] = field(default_factory=dict)
    shadow: Mapping[str, ModelOrder] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.live or self.shadow)


def encode_desired(doc: DesiredState) -> bytes:
    """The document's bytes; fields a model rollout added are left out while unused, so
    agents of the previous release keep taking sensor assignments."""
    data: dict[str, Any] = doc.model_dump(mode="python")
    if not data["shadow"]:
        del data["shadow"]
    for orders in (data["models"], data.get("shadow", {})):
        for order in orders.values():
            if not order["rollback"]:
                del order["rollback"]
    return orjson.dumps(data)


def assigned(sensor: CatalogSensor) -> AssignedSensor:
    return AssignedSensor(
        sensor_id=sensor.sensor_id,
        sensor_type=sensor.sensor_type,
        latitude=sensor.latitude,
        longitude=sensor.longitude,
        source=sensor.source,
    )


def next_generation(last: int, now: float) -> int:
    """One more than ``last``, and at least the time in milliseconds.

    Generations must only grow, also across a store that was lost or reset while the
    broker kept the last retained documents (agents ignore anything not newer than what
    they run): starting from the clock, a fresh coordinator's first document is newer
    than any an earlier one published, unless the clock went back.
    """
    return max(last + 1, int(now * 1000))


def _content(doc: DesiredState) -> bytes:
    """What the agent must run, without the envelope (generation, time)."""
    return orjson.dumps(doc.model_dump(mode="json", exclude={"generation", "issued_at"}))


class DesiredBook:
    def __init__(
        self,
        stored: Mapping[str, StoredDesired],
        *,
        clock: Clock = SYSTEM,
        config: ConfigOverrides | None = None,
    ) -> None:
        self.clock = clock
        # Settings every agent gets (e.g. its own alert rules, from the coordinator's).
        self.config = config or ConfigOverrides()
        self._docs: dict[str, StoredDesired] = dict(stored)
        self._content = {
            a: _content(DesiredState.model_validate_json(d.document)) for a, d in stored.items()
        }

    def generation(self, agent_id: str) -> int:
        doc = self._docs.get(agent_id)
        return 0 if doc is None else doc.generation

    def document(self, agent_id: str) -> StoredDesired | None:
        return self._docs.get(agent_id)

    def sensors(self, agent_id: str) -> list[str]:
        doc = self._docs.get(agent_id)
        if doc is None:
            return []
        return [s.sensor_id for s in DesiredState.model_validate_json(doc.document).sensors]

    def agents(self) -> list[str]:
        return sorted(self._docs)

    def build(
        self,
        plan: Plan,
        catalog: Mapping[str, CatalogSensor],
        agents: Iterable[str],
        orders: Mapping[str, AgentOrders] | None = None,
    ) -> list[StoredDesired]:
        """The documents that change under ``plan`` and the model ``orders``, for
        ``agents``, every agent that has one (an agent that lost its sensors gets an
        empty one, so a lost agent that comes back does not run sensors others now run)
        and every agent with model orders (an offline one finds them when it returns)."""
        now = self.clock.time()
        orders = orders or {}
        changed: list[StoredDesired] = []
        for agent_id in sorted(set(agents) | set(self._docs) | set(orders)):
            sensors = [assigned(catalog[s]) for s in plan.sensors_of(agent_id) if s in catalog]
            wanted = orders.get(agent_id, AgentOrders())
            doc = DesiredState(
                agent_id=agent_id,
                generation=next_generation(self.generation(agent_id), now),
                issued_at=now,
                sensors=sensors,
                models=dict(wanted.live),
                shadow=dict(wanted.shadow),
                config=self.config,
            )
            content = _content(doc)
            if self._content.get(agent_id) == content:
                continue
            if agent_id not in self._docs and not sensors and not wanted:
                continue  # nothing to say to an agent that never had anything
            stored = StoredDesired(agent_id, doc.generation, now, encode_desired(doc))
            self._docs[agent_id] = stored
            self._content[agent_id] = content
            changed.append(stored)
        return changed

    def publish_all(self, publish: Publish) -> int:
        for agent_id, doc in sorted(self._docs.items()):
            publish(agent_id, doc.document)
        return len(self._docs)
