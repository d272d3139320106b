"""coordinator.rescoring: the cloud re-scores a sample, and everything judged by rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.rescoring.agreement import split
from edgewatch.coordinator.rescoring.consumer import RescoringConsumer, sampled
from edgewatch.coordinator.store import ReadingQuery, SqliteStore
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.runtime import OnnxScorer
from edgewatch.shared.signing import SignKey
from tests.support.models import new_model, stored_readings

KEY = SignKey.generate()
START = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.db")
    yield s
    s.close()


def run(store: SqliteStore, sample: float = 0.1) -> RescoringConsumer:
    consumer = RescoringConsumer(store, sample=sample)
    ConsumerRunner(consumer, store, CommittedFeed()).catch_up()
    return consumer


def test_the_sample_is_the_same_everywhere_and_about_its_size() -> None:
    seqs = list(range(20_000))
    a = sampled("pi-1", 7, seqs, 0.05)
    assert np.array_equal(a, sampled("pi-1", 7, seqs, 0.05))
    assert 0.04 < a.mean() < 0.06
    assert not np.array_equal(a, sampled("pi-2", 7, seqs, 0.05))
    assert not sampled("pi-1", 7, seqs, 0.0).any() and sampled("pi-1", 7, seqs, 1.0).all()


def test_rules_readings_are_all_rescored_model_readings_a_sample(store: SqliteStore) -> None:
    model = store.add_model(new_model(KEY, "industrial", 5))
    store.write(stored_readings("rules-agent", 3000, start=START))
    store.write(stored_readings("model-agent", 3000, start=START, scorer="onnx:industrial@5"))
    consumer = run(store, sample=0.1)
    assert store.watermark("rescoring") == store.feed_head()

    def verdicts(agent: str) -> dict[int, object]:
        rows = store.readings(ReadingQuery(agent_id=agent, limit=10_000))
        keys = [(r.agent_id, r.epoch, r.seq) for r in rows if r.sensor_type == "industrial"]
        found = store.cloud_verdicts(keys)
        return {k[2]: v for k, v in found.items()}

    rules = store.readings(ReadingQuery(agent_id="rules-agent", limit=10_000))
    industrial = [r for r in rules if r.sensor_type == "industrial"]
    assert len(verdicts("rules-agent")) == len(industrial)  # every one: no model on the edge
    sample = len(verdicts("model-agent"))
    assert 0.05 * len(industrial) < sample < 0.15 * len(industrial)
    # No cloud model for the other types: nothing stored for them, counted as unscored.
    assert consumer.counters.unscored == 6000 - 2 * len(industrial)
    # The cloud ran the registry model over the whole stream of the type, in order.
    data = store.model_file(model.id)
    assert data is not None
    reference = OnnxScorer(read_model_bytes(data)).score(
        _batch([r for r in rules if r.sensor_type == "industrial"])
    )
    got = verdicts("rules-agent")
    for i, r in enumerate(industrial[:50]):
        v = got[r.seq]
        assert v.scorer == "onnx:industrial@5" and v.why == "no_model"  # type: ignore[attr-defined]
        assert v.anomaly == bool(reference.anomaly[i])  # type: ignore[attr-defined]


def test_counts_agreement_and_the_split(store: SqliteStore) -> None:
    store.add_model(new_model(KEY, "industrial", 5))
    store.write(stored_readings("r", 2000, start=START))
    store.write(stored_readings("m", 2000, start=START, scorer="onnx:industrial@5"))
    run(store, sample=1.0)
    totals = {(c.agent_id, c.sensor_type, c.scorer): c for c in store.verdict_totals()}
    m = totals[("m", "industrial", "onnx:industrial@5")]
    assert m.readings == m.rescored and m.agreed == m.readings - m.cloud_anomalies
    assert totals[("r", "medical", "rules")].rescored == 0
    s = split(totals.values())
    assert s.readings == 4000 and s.edge_model == 2000 and s.edge_rules == 2000
    assert (
        s.cloud_sample == m.rescored
        and s.cloud_no_model == totals[("r", "industrial", "rules")].rescored
    )
    # The edge model's scores placed on its held-back distribution (the gate's shift).
    window = [
        c for c in store.verdict_window(0.0) if c.agent_id == "m" and c.sensor_type == "industrial"
    ]
    assert sum(window[0].ranks) == m.readings


def test_a_restart_resumes_from_the_watermark_without_counting_twice(store: SqliteStore) -> None:
    store.add_model(new_model(KEY, "industrial", 5))
    store.write(stored_readings("r", 1000, start=START))
    run(store)
    before = store.verdict_totals()
    run(store)  # a new process: the same watermark
    assert store.verdict_totals() == before
    store.write(stored_readings("r2", 500, start=START))
    run(store)
    assert sum(c.readings for c in store.verdict_totals()) == 1500


def _batch(rows: list) -> object:  # type: ignore[type-arg]
    from edgewatch.shared.readings import ReadingBatch

    metrics = sorted({m for r in rows for m in r.metrics})
    return ReadingBatch(
        sensor_id=[r.sensor_id for r in rows],
        sensor_type=[r.sensor_type for r in rows],
        ts=np.array([r.ts for r in rows]),
        metrics={m: np.array([r.metrics.get(m, np.nan) for r in rows]) for m in metrics},
    )
