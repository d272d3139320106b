"""coordinator.models.registry and schedule: training from the store, on demand and on time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.models.errors import Conflict, NotEnoughData
from edgewatch.coordinator.models.registry import ModelRegistry, TrainingSettings
from edgewatch.coordinator.models.schedule import ScheduleSettings, TrainingSchedule
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.models.store_data import DataSettings
from edgewatch.coordinator.store import SqliteStore
from edgewatch.coordinator.store.model_records import ModelRecord, TrainingQuery
from edgewatch.coordinator.store.records import WriteSet
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.runtime import OnnxScorer
from edgewatch.shared.signing import VerifyKey, decode_signature, model_statement
from tests.support.models import stored_readings

NOW = 1_800_000_100.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.db")
    yield s
    s.close()


def registry(
    store: SqliteStore, tmp_path: Path, clock: ManualClock, **data: object
) -> ModelRegistry:
    settings = TrainingSettings(data=DataSettings(**data))  # type: ignore[arg-type]
    return ModelRegistry(store, Keyring.open(store, tmp_path / "k"), settings, clock=clock)


def fill(store: SqliteStore, agent: str, n: int, *, seed: int = 5, anomalies: float = 0.0) -> None:
    store.write(stored_readings(agent, n, seed=seed, start=NOW - 60, anomalies=anomalies))


def test_a_model_is_trained_from_the_store_signed_and_registered(
    store: SqliteStore, tmp_path: Path
) -> None:
    fill(store, "a1", 4000, anomalies=0.1)
    fill(store, "a2", 4000, seed=6)
    clock = ManualClock(wall=NOW)
    made = registry(store, tmp_path, clock, min_rows=500).train("medical", "high")
    assert (made.sensor_type, made.tier, made.status, made.version) == (
        "medical",
        "high",
        "candidate",
        int(NOW),
    )
    t = made.training
    assert t.source == "store" and t.agents == ("a1", "a2") and t.trees == 100
    medical = sum(1 for x in store.training_rows(_all("medical")).batch.sensor_type)
    # The older 80 % were used, less the readings flagged (a1's) or labelled anomalous.
    assert t.rows + t.excluded == medical - round(medical * 0.2)
    assert t.excluded > 0.1 * t.rows
    e = made.evaluation
    assert e is not None and e.rows > 0 and len(e.score_quantiles) == 21
    assert e.labelled == e.rows and e.f1 is not None  # the simulator labels its readings
    data = store.model_file(made.id)
    assert data is not None
    scorer = OnnxScorer(read_model_bytes(data))
    assert (scorer.sensor_type, scorer.version, scorer.sha256) == (
        "medical",
        made.version,
        made.sha256,
    )
    key = VerifyKey.from_pem(store.signing_keys()[-1].public_key)
    statement = model_statement("medical", "high", made.version, made.sha256)
    assert key.verify(statement, decode_signature(made.signature))
    # The next one of the type gets a higher version, even within the same second.
    again = registry(store, tmp_path, clock, min_rows=500).train("medical", "medium")
    assert again.version == made.version + 1 and again.training.trees == 50


def test_too_little_data_says_how_much_is_there_and_needed(
    store: SqliteStore, tmp_path: Path
) -> None:
    fill(store, "a1", 600)
    with pytest.raises(NotEnoughData) as err:
        registry(store, tmp_path, ManualClock(wall=NOW), min_rows=1000).train("industrial", "high")
    assert err.value.need == 1000 and 0 < err.value.have < 1000
    assert f"{err.value.have} usable reading(s), need 1000" in str(err.value)
    with pytest.raises(NotEnoughData):  # a type nobody sent
        registry(store, tmp_path, ManualClock(wall=NOW)).train("turbine", "high")


def test_one_training_at_a_time(store: SqliteStore, tmp_path: Path) -> None:
    fill(store, "a1", 2000)
    reg = registry(store, tmp_path, ManualClock(wall=NOW), min_rows=100)
    gate = threading.Event()
    release = threading.Event()

    def slow(message: str) -> None:
        gate.set()
        release.wait(10)

    worker = threading.Thread(target=lambda: reg.train("medical", "medium", progress=slow))
    worker.start()
    assert gate.wait(10)
    with pytest.raises(Conflict):
        reg.train("medical", "medium")
    release.set()
    worker.join(30)
    assert len(store.models()) == 1


def test_old_candidates_are_pruned(store: SqliteStore, tmp_path: Path) -> None:
    fill(store, "a1", 1500)
    clock = ManualClock(wall=NOW)
    reg = registry(store, tmp_path, clock, min_rows=100)
    reg.settings = TrainingSettings(data=reg.settings.data, keep_candidates=2)
    for _ in range(4):
        reg.train("medical", "medium")
    assert [m.version for m in store.models()] == [int(NOW) + 2, int(NOW) + 3]


def test_the_schedule_trains_when_time_and_new_data_came(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock(wall=NOW)
    reg = registry(store, tmp_path, clock, min_rows=100)
    made: list[ModelRecord] = []
    schedule = TrainingSchedule(
        store,
        reg,
        ScheduleSettings(interval_s=300, min_new=400),
        clock=clock,
        on_trained=made.append,
    )
    # Only tiers the fleet has: a medium agent and a low one (rules only).
    agents = [AgentRecord("a1", NOW, NOW, tier="medium"), AgentRecord("a2", NOW, NOW, tier="low")]
    store.write(WriteSet(agents=agents))
    assert schedule.tick() == []  # no data yet
    fill(store, "a1", 3000)
    _sensor_activity(store)
    assert [(m.sensor_type, m.tier) for m in schedule.tick()] == [
        (t, "medium") for t in ("automotive", "environmental", "industrial", "medical")
    ]
    clock.advance(299)
    assert schedule.tick() == []  # too soon
    clock.advance(2)
    assert schedule.tick() == []  # in time, but no new readings
    store.write(stored_readings("a9", 6000, seed=8, start=NOW))
    _sensor_activity(store)
    assert {m.sensor_type for m in schedule.tick()} == {
        "automotive",
        "environmental",
        "industrial",
        "medical",
    }
    assert len(made) == 8


def _sensor_activity(store: SqliteStore) -> None:
    """What the sensors consumer of the committed feed would have done by now."""
    from edgewatch.coordinator.fleet.sensors import SensorActivityConsumer
    from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner

    ConsumerRunner(SensorActivityConsumer(store), store, CommittedFeed()).catch_up()


def _all(sensor_type: str) -> TrainingQuery:
    return TrainingQuery(sensor_type, since=0.0)
