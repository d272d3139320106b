"""The ModelStore and VerdictStore contracts, run against every store kind
(``tests.support.stores``: SQLite, and PostgreSQL on a database of the test's own).

A store must: keep each model's file whole and a (type, version) once; list models in
registration order; keep signing keys oldest first; commit a rollout, the model
statuses it implies and its events together; return training rows newest-limited but
oldest first, with the edge and cloud verdicts; keep cloud verdicts once per reading;
sum verdict buckets from a time on, and keep totals past the buckets' pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.location import StoreLocation, open_store
from edgewatch.coordinator.store.model_records import (
    CloudVerdict,
    Rollout,
    RolloutEvent,
    SigningKeyRecord,
    TrainingQuery,
    VerdictCounts,
)
from edgewatch.shared.signing import SignKey
from tests.support.models import new_model, stored_readings
from tests.support.stores import store_location

__all__ = ["store_location"]  # the fixture, parametrised over every store kind

KEY = SignKey.generate()


@pytest.fixture
def reopen(store_location: StoreLocation) -> Iterator[Callable[[], Store]]:
    """Opens the same store again each time it is called (a restart)."""
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(store_location)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(reopen: Callable[[], Store]) -> Store:
    return reopen()


def test_models_keep_their_file_and_a_version_is_taken_once(store: Store) -> None:
    first = store.add_model(new_model(KEY, "pump", 10))
    second = store.add_model(new_model(KEY, "pump", 11, tier="high"))
    assert (first.status, first.version, first.tier) == ("candidate", 10, "medium")
    assert store.model_file(first.id) == new_model(KEY, "pump", 10).data
    assert [m.id for m in store.models()] == [first.id, second.id]
    assert store.models("fan") == []
    assert store.latest_model_version("pump") == 11 and store.latest_model_version("fan") == 0
    with pytest.raises(WriteRefused):
        store.add_model(new_model(KEY, "pump", 11))
    assert store.model(first.id) == first
    assert store.model(999) is None and store.model_file(999) is None


def test_only_candidates_are_deleted_and_signatures_replaced(store: Store) -> None:
    a = store.add_model(new_model(KEY, "pump", 1))
    b = store.add_model(new_model(KEY, "pump", 2))
    store.commit_rollout(_rollout(b.id), {b.id: "active"}, [])
    store.delete_candidates([a.id, b.id])
    assert [m.id for m in store.models()] == [b.id]
    store.resign_models({b.id: ("0123456789abcdef", "X" * 86 + "==")})
    found = store.model(b.id)
    assert found is not None and found.key_id == "0123456789abcdef"


def test_signing_keys_are_kept_oldest_first(reopen: Callable[[], Store]) -> None:
    store = reopen()
    store.add_signing_key(SigningKeyRecord("aaaaaaaaaaaaaaaa", "pem1", 1.0))
    store.add_signing_key(
        SigningKeyRecord("bbbbbbbbbbbbbbbb", "pem2", 2.0, "aaaaaaaaaaaaaaaa", "e")
    )
    assert [k.key_id for k in reopen().signing_keys()] == ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]
    assert reopen().signing_keys()[1].endorsed_by == "aaaaaaaaaaaaaaaa"
    with pytest.raises(WriteRefused):  # a second root (a replica with its own key file)
        store.add_signing_key(SigningKeyRecord("cccccccccccccccc", "pem3", 3.0))
    assert len(reopen().signing_keys()) == 2


def _rollout(model_id: int, **changes: object) -> Rollout:
    fields: dict[str, object] = dict(
        id=0,
        model_id=model_id,
        sensor_type="pump",
        tier="medium",
        state="canary",
        canary_spec="10%",
        canary=("a1",),
        shadow=False,
        baseline_model_id=None,
        started_at=100.0,
    )
    fields.update(changes)
    return Rollout(**fields)  # type: ignore[arg-type]


def test_a_rollout_its_statuses_and_events_commit_together(store: Store) -> None:
    m = store.add_model(new_model(KEY, "pump", 1))
    started = store.commit_rollout(
        _rollout(m.id), {m.id: "canary"}, [RolloutEvent(0, 100.0, "started", "canary 10%")]
    )
    assert started.id > 0 and store.rollout(started.id) == started
    found = store.model(m.id)
    assert found is not None and (found.status, found.status_at) == ("canary", 100.0)
    done = store.commit_rollout(
        _rollout(m.id, id=started.id, state="promoted", finished_at=160.0),
        {m.id: "active"},
        [RolloutEvent(started.id, 160.0, "promoted", "gate", {"ratio": 1.1})],
    )
    assert done.id == started.id and [r.id for r in store.rollouts()] == [started.id]
    events = store.rollout_events(0, 10, started.id)
    assert [(e.kind, e.figures) for e in events] == [("started", {}), ("promoted", {"ratio": 1.1})]
    assert store.rollout_events(events[0].id, 10) == events[1:]
    bad = _rollout(m.id, id=started.id, state="rolled_back")
    with pytest.raises(WriteRefused):  # nothing of a failed transaction stays
        store.commit_rollout(
            bad, {m.id: "rolled_back"}, [RolloutEvent(0, 1.0, "x", "y", {"n": {1, 2}})]
        )
    assert store.rollout(started.id) == done
    assert len(store.rollout_events(0, 10)) == 2


def test_training_rows_are_the_newest_oldest_first_with_verdicts(store: Store) -> None:
    store.write(stored_readings("a1", 3000, start=1_800_000_000.0, anomalies=0.1))
    rows = store.training_rows(TrainingQuery("industrial", since=1_800_000_000.0, limit=200))
    assert len(rows) == 200
    assert list(rows.batch.ts) == sorted(rows.batch.ts)
    assert set(rows.batch.sensor_type) == {"industrial"} and set(rows.agent_id) == {"a1"}
    assert rows.batch.ts[-1] > 1_800_000_002.9  # the newest, not the first
    assert not rows.anomaly.any() and not rows.cloud_anomaly.any()
    everything = store.training_rows(TrainingQuery("industrial", since=0.0))
    assert everything.anomaly.any() and len(everything) < 3000
    assert set(everything.batch.metrics) >= {"temperature", "vibration"}


def test_cloud_verdicts_and_verdict_counts(store: Store) -> None:
    store.write(stored_readings("a1", 100, start=1_800_000_000.0))
    entry = store.feed_after(0, 1)[0]
    rows = store.feed_scored(entry)
    assert rows.seq == list(range(entry.first_seq, entry.last_seq + 1))
    assert set(rows.scorer) == {"rules"}
    only = store.feed_scored(entry, frozenset({"industrial"}))
    other = [i for i, t in enumerate(only.batch.sensor_type) if t != "industrial"]
    assert all(
        only.batch.metrics["temperature"][i] != only.batch.metrics["temperature"][i] for i in other
    )
    verdict = CloudVerdict("a1", 1, 3, 0.2, True, "onnx:pump@1", "no_model", 5.0)
    counts = [
        VerdictCounts("a1", "pump", "rules", 10, 2, 10, 8, 3, (1,) * 10, bucket=100.0),
        VerdictCounts("a1", "pump", "rules", 5, 1, 5, 5, 1, (0,) * 10, bucket=110.0),
    ]
    store.apply_rescoring([verdict, verdict], counts, "rescoring", entry.position, 0.0)
    assert store.watermark("rescoring") == entry.position
    assert store.cloud_verdicts([("a1", 1, 3), ("a1", 1, 4)]) == {("a1", 1, 3): verdict}
    assert [(c.readings, c.agreed, c.ranks[0]) for c in store.verdict_window(100.0)] == [
        (15, 13, 1)
    ]
    assert [c.readings for c in store.verdict_window(105.0)] == [5]
    # Buckets before 105 are pruned; the totals keep everything.
    store.apply_rescoring([], counts[1:], "rescoring", entry.position, 105.0)
    assert [c.readings for c in store.verdict_window(0.0)] == [10]
    assert [(c.readings, c.rescored, c.agreed) for c in store.verdict_totals()] == [(20, 20, 18)]
    # Two replicas re-scoring one page from one watermark: the second adds nothing.
    again = entry.position + 5
    assert store.apply_rescoring([], counts[:1], "rescoring", again, 0.0, after=entry.position)
    assert not store.apply_rescoring([], counts[:1], "rescoring", again, 0.0, after=entry.position)
    assert [c.readings for c in store.verdict_totals()] == [30]
    assert store.watermark("rescoring") == again
