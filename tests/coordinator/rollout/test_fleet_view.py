"""coordinator.rollout.fleet_view.LiveFleet and the lifecycle's model duty beside the fleet
duty: which types an agent handles comes from the store (plan, activity) and the agent's
own messages, never from the fleet duty (it asks for model orders under its own lock);
the model duty runs only where the fleet role is held, and a new holder's first desired
states already carry the orders."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.coordinator.fleet.registry import AgentRecord, FleetRegistry
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.models.lifecycle import ModelLifecycle
from edgewatch.coordinator.rollout.fleet_view import LiveFleet
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store import SqliteStore
from edgewatch.coordinator.store.records import CatalogSensor, Placement, SensorActivity
from edgewatch.shared.desired import SimulatedSource
from edgewatch.shared.schemas import LocalSensor, ModelRef
from edgewatch.shared.topics import Topics

SOURCE = SimulatedSource(seed=1, number=0, rate_hz=1.0, t0=1_700_000_000.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.db")
    yield s
    s.close()


def _agent(agent_id: str, **kw: object) -> AgentRecord:
    return AgentRecord(id=agent_id, first_seen=1.0, last_seen=1.0, state="online", **kw)  # type: ignore[arg-type]


def test_types_come_from_the_plan_the_readings_and_the_agent(store: SqliteStore) -> None:
    store.register_sensors(
        [
            CatalogSensor("p1", "pump", SOURCE),
            CatalogSensor("f1", "fan", SOURCE),
        ]
    )
    store.commit_plan({"p1": Placement("a", 1.0), "f1": Placement("b", 1.0)}, [], [])
    # ``c`` sent readings of a motor (the sensors consumer's record of it).
    store.apply_sensor_activity(
        [SensorActivity("m1", "motor", "c", 1.0, 2.0, 3.0, 5, 0)], "sensors", 0
    )
    local = LocalSensor(sensor_id="h1", sensor_type="hvac")
    fleet = FleetRegistry(
        [
            _agent("a", tier="high"),
            _agent("b", models={"gear": ModelRef(version=3, sha256="0" * 64)}),
            _agent("c", own_sensors=(local,)),
            _agent("d"),
        ]
    )
    views = {v.agent_id: v for v in LiveFleet(fleet, store).agents()}
    assert [*views] == ["a", "b", "c", "d"]
    assert views["a"].types == {"pump"} and views["a"].tier == "high"
    assert views["b"].types == {"fan", "gear"} and views["b"].tier == "low"
    assert views["c"].types == {"motor", "hvac"}
    assert views["d"].types == frozenset() and views["d"].online


def test_the_store_is_reread_at_most_every_activity_s(store: SqliteStore) -> None:
    store.register_sensors([CatalogSensor("p1", "pump", SOURCE)])
    fleet = FleetRegistry([_agent("a")])
    view = LiveFleet(fleet, store, activity_s=3600)
    assert view.agents()[0].types == frozenset()
    store.commit_plan({"p1": Placement("a", 1.0)}, [], [])
    assert view.agents()[0].types == frozenset()  # cached
    assert LiveFleet(fleet, store, activity_s=0).agents()[0].types == {"pump"}


class _Link:
    """What the lifecycle needs of the MQTT link: retained publishes, recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, **kw: object) -> object:
        with self.lock:
            self.sent.append((topic, payload))
        return object()


def test_the_model_duty_runs_only_while_the_fleet_role_is_held(
    store: SqliteStore, tmp_path: Path
) -> None:
    settings = CoordinatorSettings(db=tmp_path / "c.db")
    life = ModelLifecycle(settings, store, Topics("edgewatch"), CoordinatorMetrics())
    link = _Link()
    life.attach(FleetRegistry([_agent("a")]), link, lambda: None)  # type: ignore[arg-type]
    assert life.duty is None and life.orders() == {}
    life.prepare()  # a new holder: orders computed and the key chain out before any state
    assert any(t == "edgewatch/keys" for t, _ in link.sent)
    try:
        life.held(True)
        first = life.duty
        assert first is not None
        life.held(True)  # held still: the same duty
        assert life.duty is first
        deadline = time.monotonic() + 5
        while first.ticks == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.ticks >= 1
    finally:
        life.held(False)
    assert life.duty is None
    ticks = first.ticks
    time.sleep(0.05)
    assert first.ticks == ticks  # stopped: no tick after the role is lost
    life.stop()  # idempotent
