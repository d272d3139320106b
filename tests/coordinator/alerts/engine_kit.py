"""A real store, a manual clock, a fleet of records and a recording MQTT publish, for the
engine's tests: everything but the network, and time moves only when a test says so."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.feed import CriticalConsumer
from edgewatch.coordinator.alerts.publisher import AlertPublisher
from edgewatch.coordinator.alerts.rules import RuleSet, load_rules
from edgewatch.coordinator.alerts.signals import Signals
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.store import SqliteStore, WriteSet
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.schemas import ResultBatch
from edgewatch.shared.topics import Topics


@dataclass
class Published:
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def __call__(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> object:
        self.messages.append((topic, payload, retain))
        return object()

    def retained(self) -> dict[str, bytes]:
        """What a broker would hold now: the last retained payload per topic, empties gone."""
        state: dict[str, bytes] = {}
        for topic, payload, retain in self.messages:
            if retain:
                if payload:
                    state[topic] = payload
                else:
                    state.pop(topic, None)
        return state

    def events(self, kind: str | None = None) -> list[str]:
        import orjson

        out = []
        for topic, payload, retain in self.messages:
            if "/alerts/events/" in topic and not retain:
                body = orjson.loads(payload)
                if kind is None or body["event"]["kind"] == kind:
                    out.append(topic)
        return out


@dataclass
class Kit:
    store: SqliteStore
    clock: ManualClock
    engine: AlertEngine
    published: Published
    agents: dict[str, AgentRecord]
    lag: dict[str, float | None]
    assigned: dict[str, str]
    seq: int = 0

    def agent(self, agent_id: str, **beat: Any) -> AgentRecord:
        now = self.clock.time()
        heartbeat = {"ts": now, "battery_percent": 90.0, "outbox_oldest_age_s": 0.0, **beat}
        rec = AgentRecord(
            id=agent_id,
            first_seen=now,
            last_seen=now,
            state="online",
            heartbeat=heartbeat,
            heartbeat_at=now,
        )
        self.agents[agent_id] = rec
        return rec

    def beat(self, agent_id: str, **beat: Any) -> None:
        """A fresh heartbeat of an agent (keeps it up), with changed figures."""
        rec = self.agents[agent_id]
        now = self.clock.time()
        heartbeat = {**(rec.heartbeat or {}), "ts": now, **beat}
        self.agents[agent_id] = replace(rec, heartbeat=heartbeat, heartbeat_at=now, last_seen=now)

    def readings(
        self,
        sensor: str,
        n: int,
        *,
        anomalies: int = 0,
        confidence: float = 0.5,
        agent: str = "pi-1",
        ts: float | None = None,
    ) -> None:
        """``n`` readings of ``sensor`` in the last second (or at ``ts``), stored and
        applied by the aggregates and alerts followers of the feed."""
        base = self.clock.time() - 1 if ts is None else ts
        batch = ResultBatch(
            schema_version=2,
            agent_id=agent,
            epoch=1,
            first_seq=self.seq,
            sensor_id=[sensor] * n,
            sensor_type=["industrial"] * n,
            ts=[base + i * (0.9 / n) for i in range(n)],
            metrics={"temperature": [20.0] * n},
            status=["normal"] * n,
            label=[None] * n,
            score=[0.0] * n,
            anomaly=[i < anomalies for i in range(n)],
            confidence=[confidence] * n,
            scorer=["rules"] * n,
        )
        self.seq += n
        self.store.write(WriteSet(batches=[batch]))
        self.follow()

    def follow(self) -> None:
        for consumer in (AggregateConsumer(self.store), CriticalConsumer(self.engine)):
            ConsumerRunner(consumer, self.store, CommittedFeed()).catch_up()

    def tick(self, advance: float = 0.0) -> list[str]:
        if advance:
            self.clock.advance(advance)
        return [f"{t.event.kind}:{t.alert.key}" for t in self.engine.tick()]

    def active(self) -> set[str]:
        from edgewatch.coordinator.alerts.records import AlertQuery

        return {a.key for a in self.store.alerts(AlertQuery(state="active"))}


def make_kit(tmp_path: Path, rules: RuleSet | None = None, name: str = "alerts.db") -> Kit:
    store = SqliteStore(tmp_path / name)
    clock = ManualClock(wall=time.time())
    agents: dict[str, AgentRecord] = {}
    lag: dict[str, float | None] = {}
    assigned: dict[str, str] = {}
    published = Published()
    signals = Signals(
        store,
        lambda: list(agents.values()),
        timeout_s=15.0,
        converge_lag=lambda a: lag.get(a),
        assigned=lambda: dict(assigned),
    )
    engine = AlertEngine(
        store, rules or load_rules(None), signals, AlertPublisher(Topics(), published), clock=clock
    )
    return Kit(store, clock, engine, published, agents, lag, assigned)
