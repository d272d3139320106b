"""The fleet duty on a manual clock, a real SQLite store and a real fleet registry.

What it publishes (each agent's desired state) is captured from its publish port; the
agents' side is played by heartbeats applied to the registry, as ingest applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgewatch.coordinator.fleet.assignment.registry import make_strategy
from edgewatch.coordinator.fleet.duty import DutySettings, FleetDuty
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.fleet.sensors import SensorActivityConsumer
from edgewatch.coordinator.fleet.simulated import register_simulated_fleet
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.store import SqliteStore, WriteSet
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.desired import DesiredState
from edgewatch.shared.schemas import AgentStatus, Heartbeat, Hello, ReportedState
from tests.support.coordinator import make_batch

SENSORS = 30


def deliver(store: SqliteStore, agent_id: str, sensors: list[str], ts: float) -> None:
    """Readings of ``sensors`` from ``agent_id`` committed, and the feed followed."""
    batch = make_batch(agent_id, len(sensors), ts=ts).model_copy(
        update={"sensor_id": sensors, "ts": [ts] * len(sensors)}
    )
    store.write(WriteSet(batches=[batch]))
    ConsumerRunner(SensorActivityConsumer(store), store, CommittedFeed()).catch_up()


@dataclass
class Published:
    docs: dict[str, DesiredState] = field(default_factory=dict)
    count: int = 0

    def __call__(self, agent_id: str, document: bytes) -> None:
        self.docs[agent_id] = DesiredState.model_validate_json(document)
        self.count += 1

    def sensors(self, agent_id: str) -> set[str]:
        doc = self.docs.get(agent_id)
        return set() if doc is None else {s.sensor_id for s in doc.sensors}


class Fleet:
    """Agents as the coordinator sees them: hellos, heartbeats and wills."""

    def __init__(self, registry: FleetRegistry, clock: ManualClock) -> None:
        self.registry = registry
        self.clock = clock

    def hello(self, agent_id: str, *capabilities: str) -> None:
        now = self.clock.time()
        caps = ["rules", "assigned", *capabilities]
        hello = Hello(
            agent_id=agent_id,
            ts=now,
            version="t",
            tier="medium",
            capabilities=caps,
            sensors=0,
            epoch=1,
        )
        self.registry.apply_hello(hello, now)
        self.registry.apply_status(AgentStatus(agent_id=agent_id, state="online"), now)
        self.beat(agent_id)

    def beat(self, agent_id: str, reported: ReportedState | None = None) -> None:
        now = self.clock.time()
        beat = Heartbeat(
            agent_id=agent_id,
            ts=now,
            uptime_s=1,
            cpu_percent=5,
            memory_percent=5,
            rss_mb=50,
            outbox_rows=0,
            outbox_bytes=0,
            outbox_oldest_age_s=0,
            readings_scored=0,
            readings_acked=0,
            scorer="rules",
            mqtt_protocol="5",
            reported=reported,
        )
        self.registry.apply_heartbeat(beat, now)

    def report(self, agent_id: str, published: Published) -> None:
        """The agent applied what it was told, and says so."""
        doc = published.docs[agent_id]
        active = sorted(s.sensor_id for s in doc.sensors)
        self.beat(agent_id, ReportedState(generation=doc.generation, active_sensors=active))

    def will(self, agent_id: str) -> None:
        self.registry.apply_status(
            AgentStatus(agent_id=agent_id, state="offline"), self.clock.time()
        )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[FleetDuty, Fleet, Published, ManualClock, SqliteStore]:
    clock = ManualClock(wall=1_800_000_000.0)
    store = SqliteStore(tmp_path / "fleet.db")
    register_simulated_fleet(store, SENSORS, seed=3, rate_hz=1.0, now=clock.time())
    registry = FleetRegistry()
    published = Published()
    duty = FleetDuty(
        store=store,
        fleet=registry,
        strategy=make_strategy("consistent_hash"),
        publish=published,
        settings=DutySettings(
            timeout_s=15, hold_down_s=30, handover_timeout_s=20, converge_timeout_s=10
        ),
        clock=clock,
    )
    return duty, Fleet(registry, clock), published, clock, store


def test_sensors_are_shared_out_and_move_when_an_agent_is_lost(setup) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, store = setup
    for a in ("a", "b", "c"):
        fleet.hello(a)
    duty.tick()
    owned = {a: published.sensors(a) for a in "abc"}
    assert sum(len(s) for s in owned.values()) == SENSORS
    assert all(7 <= len(s) <= 13 for s in owned.values())  # within ceil(1.25 x 10)
    first = {a: published.docs[a].generation for a in "abc"}
    for a in "abc":
        fleet.report(a, published)
    clock.advance(1)
    fleet.will("b")
    duty.tick()
    assert published.sensors("b") == set() and published.docs["b"].generation > first["b"]
    assert published.sensors("a") | published.sensors("c") == set().union(*owned.values())
    # Only b's sensors moved, and each move is an event that says why.
    moved = [e for e in store.assignment_events(0, 1000) if e.from_agent is not None]
    assert {e.sensor_id for e in moved} == owned["b"]
    assert {e.reason for e in moved} == {"agent_lost"} and {e.from_agent for e in moved} == {"b"}
    assert duty.assignments().keys() == {"a", "c"}


def test_silence_is_a_loss_too_and_a_returning_agent_waits_out_the_hold_down(setup) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, store = setup
    for a in ("a", "b", "c"):
        fleet.hello(a)
    duty.tick()
    for _ in range(16):  # b goes silent; a and c keep beating
        clock.advance(1)
        fleet.report("a", published)
        fleet.report("c", published)
        duty.tick()
    assert published.sensors("b") == set()
    fleet.hello("b")  # back (the duty looks at once: the registry wakes it)
    duty.tick()
    clock.advance(29)
    fleet.report("a", published)
    fleet.report("c", published)
    fleet.beat("b")
    duty.tick()
    assert published.sensors("b") == set()  # still in its hold-down
    clock.advance(2)
    for a in "ac":
        fleet.report(a, published)
    fleet.beat("b")
    duty.tick()
    back = published.sensors("b")
    assert back, "b got nothing back after its hold-down"
    # A planned move is a handover: the old owners keep b's sensors until b runs them.
    still = published.sensors("a") | published.sensors("c")
    assert back <= still
    fleet.report("b", published)
    duty.tick()
    # Reporting them running is not enough: readings from b must have arrived.
    assert back <= published.sensors("a") | published.sensors("c")
    deliver(store, "b", sorted(back), clock.time())
    duty.tick()
    assert not back & (published.sensors("a") | published.sensors("c"))
    assert duty.handover_sensors() >= back  # ingest dedupes them for a while


def test_an_agent_behind_its_desired_state_becomes_stuck(setup) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, _store = setup
    fleet.hello("a")
    duty.tick()
    assert not duty.convergence("a").converged
    clock.advance(5)
    fleet.beat("a")
    duty.tick()
    assert not duty.convergence("a").stuck
    clock.advance(6)
    fleet.beat("a")
    duty.tick()
    assert duty.convergence("a").stuck
    fleet.report("a", published)
    duty.tick()
    view = duty.convergence("a")
    assert view.converged and not view.stuck
    assert view.reported_generation == published.docs["a"].generation


def test_generations_outgrow_any_an_earlier_coordinator_left_retained(setup) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, store = setup
    fleet.hello("a")
    duty.tick()
    # A store lost or reset: a new book starts from nothing, yet its first document
    # must be newer than the retained one agents run (they ignore older generations).
    from edgewatch.coordinator.fleet.desired_book import DesiredBook

    clock.advance(1)
    fresh = DesiredBook({}, clock=clock)
    (doc,) = fresh.build(duty.plan, {s.sensor_id: s for s in store.catalog()}, ["a"])
    assert doc.generation > published.docs["a"].generation


def test_a_restarted_duty_republishes_the_same_generations(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, store = setup
    fleet.hello("a")
    fleet.hello("b")
    duty.tick()
    before = {a: (d.generation, d.sensors) for a, d in published.docs.items()}
    again = Published()
    restarted = FleetDuty(
        store=store,
        fleet=fleet.registry,
        strategy=make_strategy("consistent_hash"),
        publish=again,
        clock=clock,
    )
    restarted.republish()
    restarted.tick()
    assert {a: (d.generation, d.sensors) for a, d in again.docs.items()} == before


def test_sensors_an_agent_reads_on_its_own_are_registered_never_assigned(setup) -> None:  # type: ignore[no-untyped-def]
    duty, fleet, published, clock, store = setup
    from edgewatch.shared.schemas import LocalSensor

    now = clock.time()
    own = [LocalSensor(sensor_id="valve1-0", sensor_type="skab")]
    hello = Hello(
        agent_id="csv-box", ts=now, version="t", tier="low", sensors=1, epoch=1, own_sensors=own
    )
    fleet.registry.apply_hello(hello, now)
    fleet.registry.apply_status(AgentStatus(agent_id="csv-box", state="online"), now)
    fleet.hello("a")
    duty.tick()
    duty.tick()  # the registration is read back at the next look
    entry = store.catalog_sensor("valve1-0")
    assert entry is not None and entry.origin == "reported" and entry.pinned_to == "csv-box"
    assert entry.source.kind == "local"
    assert "valve1-0" not in published.sensors("a") and "csv-box" not in published.docs
