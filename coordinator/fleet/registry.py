"""The fleet registry: what the coordinator knows about each agent.

Built from three agent messages: ``Hello`` (who it is: tier, place, version, models),
``Heartbeat`` (how it is: resource figures, outbox depth, scorer in use) and
``AgentStatus`` (``online``, or ``offline`` as its last will). The ingest worker applies
them here and writes the changed records in the same transaction as the batches, so the
registry on disk never runs ahead of or behind the readings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from edgewatch.shared.schemas import AgentStatus, Heartbeat, Hello, LocalSensor, ModelRef

AgentState = Literal["online", "offline", "unknown"]


@dataclass(frozen=True)
class AgentRecord:
    """One agent as last heard of. Times are coordinator wall-clock epoch seconds."""

    id: str
    first_seen: float
    last_seen: float
    state: AgentState = "unknown"
    tier: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    version: str | None = None
    epoch: int | None = None
    models: dict[str, ModelRef] = field(default_factory=dict)
    heartbeat: dict[str, Any] | None = None
    heartbeat_at: float | None = None
    capacity: int | None = None
    capabilities: tuple[str, ...] = ()
    # Sensors the agent reads on its own (from its hello); kept in memory only: the
    # fleet duty registers them in the catalog.
    own_sensors: tuple[LocalSensor, ...] = ()


class FleetRegistry:
    """In-memory registry, written by the ingest worker, persisted through the store."""

    def __init__(self, records: Iterable[AgentRecord] = ()) -> None:
        self._agents = {r.id: r for r in records}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the ingest thread: it must only signal) on every change."""
        self._listeners.append(listener)

    def _touch(self, agent_id: str, now: float) -> AgentRecord:
        old = self._agents.get(agent_id)
        if old is None:
            return AgentRecord(id=agent_id, first_seen=now, last_seen=now)
        return replace(old, last_seen=max(old.last_seen, now))

    def _put(self, record: AgentRecord) -> None:
        with self._lock:
            old = self._agents.get(record.id)
            self._agents[record.id] = record
            self._dirty.add(record.id)
        # Results only touch last_seen: not worth waking anyone for.
        if old is None or replace(old, last_seen=record.last_seen) != record:
            for listener in self._listeners:
                listener()

    def apply_hello(self, hello: Hello, now: float) -> None:
        rec = self._touch(hello.agent_id, now)
        self._put(
            replace(
                rec,
                tier=hello.tier,
                latitude=hello.latitude,
                longitude=hello.longitude,
                version=hello.version,
                epoch=hello.epoch,
                models=dict(hello.models),
                capacity=hello.capacity,
                capabilities=tuple(hello.capabilities),
                own_sensors=tuple(hello.own_sensors),
            )
        )

    def apply_heartbeat(self, beat: Heartbeat, now: float) -> None:
        rec = self._touch(beat.agent_id, now)
        # A heartbeat is proof of life, even after a retained "offline" from an old will.
        # An agent that reports its state tells every model it runs, so none means none
        # (it unloaded them); older ones may leave models to their hello.
        models = dict(beat.models) if beat.reported is not None else dict(beat.models) or rec.models
        figures = beat.model_dump(mode="json")
        self._put(replace(rec, state="online", heartbeat=figures, heartbeat_at=now, models=models))

    def apply_status(self, status: AgentStatus, now: float) -> None:
        rec = self._touch(status.agent_id, now)
        self._put(replace(rec, state=status.state))

    def note_results(self, agent_id: str, now: float) -> None:
        """Results prove the agent exists even if its hello never reached us."""
        self._put(self._touch(agent_id, now))

    def take_dirty(self) -> list[AgentRecord]:
        """The records changed since the last call (for the next transaction)."""
        with self._lock:
            ids, self._dirty = self._dirty, set()
            return [self._agents[i] for i in sorted(ids)]

    def restore_dirty(self, records: Iterable[AgentRecord]) -> None:
        """Mark records dirty again after a failed transaction, so they are retried."""
        with self._lock:
            self._dirty.update(r.id for r in records)

    def replace(self, agent_id: str, record: AgentRecord | None) -> None:
        """Put back ``record`` (the stored one) for ``agent_id``, or forget the agent.

        Used when a message about the agent could not be stored: what it changed in
        memory must not linger and be written with the next transaction.
        """
        with self._lock:
            self._dirty.discard(agent_id)
            if record is None:
                self._agents.pop(agent_id, None)
            else:
                self._agents[agent_id] = record

    def online(self) -> int:
        with self._lock:
            return sum(1 for r in self._agents.values() if r.state == "online")

    def all(self) -> list[AgentRecord]:
        with self._lock:
            return list(self._agents.values())

    def get(self, agent_id: str) -> AgentRecord | None:
        with self._lock:
            return self._agents.get(agent_id)
