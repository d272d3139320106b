"""Incremental windows equal a recomputation from raw readings, whatever the order.

A live stream, then a backlog that lands late and out of order across window
boundaries (an outage), applied page by page through the feed consumer: every window of
every scope and size must equal the statistics recomputed from the stored readings in
one pass (to 1e-9), late windows must say they were revised, and a restart (a new store
object, a new consumer) must keep all of it and apply nothing twice.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.aggregates.latency import buckets_of
from edgewatch.coordinator.aggregates.rebuild import rebuild
from edgewatch.coordinator.aggregates.records import AggregateQuery, WindowAggregate
from edgewatch.coordinator.aggregates.stats import MetricStats
from edgewatch.coordinator.aggregates.windows import SIZES
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.store import ReadingQuery, SqliteStore, WriteSet
from edgewatch.shared.schemas import ResultBatch

NOW = time.time()
T0 = float(int(NOW // 3600) * 3600 - 3 * 3600)  # an hour boundary, three hours back
SENSORS = [("s1", "industrial"), ("s2", "industrial"), ("s3", "medical")]


def batch(agent: str, first_seq: int, ts: list[float], rng: random.Random) -> ResultBatch:
    n = len(ts)
    sensors = [SENSORS[rng.randrange(len(SENSORS))] for _ in range(n)]
    # Large offsets with small spread: the case where sum-of-squares variance cancels.
    temp: list[float | None] = [1e6 + rng.gauss(0, 0.01) for _ in range(n)]
    hum: list[float | None] = [
        rng.uniform(0, 100) if rng.random() > 0.2 else None for _ in range(n)
    ]
    if all(h is None for h in hum):
        hum[0] = 50.0
    return ResultBatch(
        schema_version=2,
        agent_id=agent,
        epoch=1,
        first_seq=first_seq,
        sensor_id=[s for s, _ in sensors],
        sensor_type=[t for _, t in sensors],
        ts=ts,
        metrics={"temperature": temp, "humidity": hum},
        status=[rng.choice(["normal", "warning", "alert", None]) for _ in range(n)],
        label=[None] * n,
        score=[0.0] * n,
        anomaly=[rng.random() < 0.1 for _ in range(n)],
        confidence=[0.9] * n,
        scorer=["rules"] * n,
    )


def expected(store: SqliteStore) -> dict[tuple[str, int, int], dict[str, object]]:
    """Every window recomputed from the stored readings, naively, in one pass."""
    groups: dict[tuple[str, int, int], list[tuple[object, ...]]] = defaultdict(list)
    stamps = {(s.agent_id, s.seq): s.stored_at for s in store.stamps(ReadingQuery(limit=100_000))}
    for r in store.readings(ReadingQuery(limit=10_000)):
        stored_at = stamps[(r.agent_id, r.seq)]
        for size in SIZES:
            start = int(r.ts // size) * size
            for scope in (
                f"sensor:{r.sensor_id}",
                f"type:{r.sensor_type}",
                f"agent:{r.agent_id}",
                "fleet",
            ):
                groups[(scope, size, start)].append((r, stored_at))
    out = {}
    for key, rows in groups.items():
        metrics = {}
        for name in ("temperature", "humidity"):
            values = [r.metrics[name] for r, _ in rows if name in r.metrics]
            if values:
                metrics[name] = MetricStats.of(values)
        lat = buckets_of(np.array([s - r.ts for r, s in rows]))
        hist: dict[str, int] = defaultdict(int)
        for b in lat.tolist():
            hist[str(b)] += 1
        statuses: dict[str, int] = defaultdict(int)
        for r, _ in rows:
            statuses[r.status or "none"] += 1
        out[key] = {
            "count": len(rows),
            "anomalies": sum(r.anomaly for r, _ in rows),
            "metrics": metrics,
            "latency": dict(hist),
            "statuses": dict(statuses),
        }
    return out


def stored_windows(store: SqliteStore) -> dict[tuple[str, int, int], WindowAggregate]:
    found = {}
    for size in SIZES:
        for w in store.aggregates(AggregateQuery(size_s=size)):
            found[(w.scope, w.size_s, w.start)] = w
    return found


def assert_equal(store: SqliteStore) -> None:
    want, got = expected(store), stored_windows(store)
    assert set(got) == set(want)
    for key, w in want.items():
        s = got[key].stats
        assert (s.count, s.anomalies) == (w["count"], w["anomalies"]), key
        assert dict(s.latency) == w["latency"] and dict(s.statuses) == w["statuses"], key
        assert set(s.metrics) == set(w["metrics"]), key  # type: ignore[arg-type]
        for name, ref in w["metrics"].items():  # type: ignore[attr-defined]
            m = s.metrics[name]
            assert m.count == ref.count and (m.min, m.max) == (ref.min, ref.max)
            assert math.isclose(m.mean, ref.mean, rel_tol=1e-9, abs_tol=1e-9), (key, name)
            assert math.isclose(m.m2, ref.m2, rel_tol=1e-9, abs_tol=1e-9), (key, name, m.m2, ref.m2)


def run_consumer(store: SqliteStore, batch_size: int) -> AggregateConsumer:
    consumer = AggregateConsumer(store)
    ConsumerRunner(consumer, store, CommittedFeed(), batch=batch_size).catch_up()
    return consumer


@pytest.mark.parametrize("page", [1, 3, 50])
def test_a_late_out_of_order_backlog_equals_a_recomputation(tmp_path: Path, page: int) -> None:
    rng = random.Random(page)
    store = SqliteStore(tmp_path / "agg.db")
    seq = 0
    # Live: readings of the last seconds, committed at once.
    for k in range(6):
        ts = [time.time() - 4 + k * 0.1 + i * 0.001 for i in range(40)]
        store.write(WriteSet(batches=[batch("live", seq, ts, rng)]))
        seq += 40
    run_consumer(store, page)
    # A backlog from an outage two hours earlier arrives late, shuffled, crossing 1 m, 5 m,
    # 15 m and 1 h boundaries (the hour at T0 and the one after).
    chunks = []
    bseq = 0
    for k in range(12):
        ts = [T0 + 3300 + k * 55 + i * 1.7 for i in range(30)]
        rng.shuffle(ts)
        chunks.append(batch("late", bseq, ts, rng))
        bseq += 30
    rng.shuffle(chunks)
    for i, c in enumerate(chunks):
        store.write(WriteSet(batches=[c]))
        if i % 4 == 3:
            run_consumer(store, page)
    run_consumer(store, page)
    assert_equal(store)
    windows = stored_windows(store)
    # Live windows were never revised. The backlog's windows are revised once per later
    # page that added to a window it had already created.
    assert all(w.revisions == 0 for k, w in windows.items() if k[0] == "agent:live")
    late = [w for k, w in windows.items() if k[0] == "agent:late"]
    assert late and any(w.revisions > 0 for w in late)
    assert sum(w.stats.count for w in late if w.size_s == 3600) == 12 * 30
    store.close()


def test_late_readings_into_a_closed_window_count_a_revision(tmp_path: Path) -> None:
    rng = random.Random(1)
    store = SqliteStore(tmp_path / "agg.db")
    now = time.time()
    store.write(WriteSet(batches=[batch("a", 0, [now - 2.0, now - 1.0], rng)]))
    run_consumer(store, 10)
    w = stored_windows(store)[("agent:a", 60, int((now - 2.0) // 60) * 60)]
    assert w.revisions == 0 or int((now - 1.0) // 60) != int((now - 2.0) // 60)
    store.write(WriteSet(batches=[batch("a", 2, [T0 + 5.0], rng)]))
    run_consumer(store, 10)
    # Readings of T0's first minute, committed hours after it closed: late.
    store.write(WriteSet(batches=[batch("b", 0, [T0 + 30.0, T0 + 40.0, T0 + 50.0], rng)]))
    run_consumer(store, 10)
    w = stored_windows(store)[("fleet", 60, int(T0))]
    assert w.stats.count == 4 and w.revisions == 1 and w.revised_at is not None
    assert_equal(store)
    store.close()


def test_restart_keeps_windows_and_applies_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(2)
    path = tmp_path / "agg.db"
    store = SqliteStore(path)
    for k in range(5):
        store.write(
            WriteSet(batches=[batch("a", k * 20, [T0 + k * 70 + i for i in range(20)], rng)])
        )
    run_consumer(store, 2)
    before = stored_windows(store)
    store.close()
    again = SqliteStore(path)
    assert run_consumer(again, 2).pages == 0  # nothing left to apply
    assert stored_windows(again) == before
    again.write(WriteSet(batches=[batch("a", 100, [T0 + 30.0], rng)]))
    run_consumer(again, 2)
    assert_equal(again)
    again.close()


def test_rebuild_recomputes_from_raw_readings_and_the_consumer_carries_on(tmp_path: Path) -> None:
    rng = random.Random(3)
    store = SqliteStore(tmp_path / "agg.db")
    for k in range(4):
        store.write(
            WriteSet(batches=[batch("a", k * 25, [T0 + k * 900 + i * 3 for i in range(25)], rng)])
        )
    run_consumer(store, 1)
    # Someone damages the windows (or an older release computed them wrongly) ...
    store._conn.execute("UPDATE aggregates SET count = 1, metrics = '{}'")
    hours, readings = rebuild(store, None)
    assert (hours, readings) == (1, 100)
    assert_equal(store)
    # ... and readings committed after the rebuild are applied once, on top.
    store.write(WriteSet(batches=[batch("a", 100, [T0 + 1.0, T0 + 3599.0], rng)]))
    run_consumer(store, 1)
    assert_equal(store)
    store.close()


def test_a_page_is_not_applied_when_the_watermark_moved(tmp_path: Path) -> None:
    rng = random.Random(4)
    store = SqliteStore(tmp_path / "agg.db")
    store.write(WriteSet(batches=[batch("a", 0, [T0 + 1.0, T0 + 2.0], rng)]))
    entries = store.feed_after(0, 10)
    cols = store.feed_columns(entries)
    from edgewatch.coordinator.aggregates.compute import contributions

    assert store.apply_aggregates(contributions(cols), "aggregates", 0, entries[-1].position)
    # A second, stale writer of the same page (another replica, a rebuild) changes nothing.
    assert not store.apply_aggregates(contributions(cols), "aggregates", 0, entries[-1].position)
    assert stored_windows(store)[("fleet", 60, int(T0))].stats.count == 2
    store.close()


def test_batches_from_the_feed_cache_give_what_the_store_gives(tmp_path: Path) -> None:
    """The consumer may take a committed batch from memory instead of the store: only a
    whole batch, and the windows must be the same either way (the store is the truth)."""
    rng = random.Random(5)
    results = {}
    for name, cached in (("cache", True), ("store", False)):
        store = SqliteStore(tmp_path / f"{name}.db")
        feed = CommittedFeed()
        batches = [batch("a", k * 20, [T0 + k * 61 + i for i in range(20)], rng) for k in range(4)]
        rng.seed(5)
        for b in batches:
            result = store.write(WriteSet(batches=[b, b]))  # the second copy: duplicates
            if cached:
                feed.published(result.feed_position, [b, b], result)
        consumer = AggregateConsumer(store, feed=feed)
        ConsumerRunner(consumer, store, feed).catch_up()
        assert consumer.from_cache == (4 if cached else 0)
        assert_equal(store)
        results[name] = {k: w.stats for k, w in stored_windows(store).items()}
        store.close()
    assert results["cache"] == results["store"]


def test_a_partly_new_batch_is_never_taken_from_the_cache(tmp_path: Path) -> None:
    rng = random.Random(6)
    store = SqliteStore(tmp_path / "agg.db")
    feed = CommittedFeed()
    first = batch("a", 0, [T0 + i for i in range(10)], rng)
    store.write(WriteSet(batches=[first]))
    longer = batch("a", 0, [T0 + i for i in range(10)] + [T0 + 30.0, T0 + 31.0], rng)
    longer = longer.model_copy(
        update={
            k: getattr(first, k) + getattr(longer, k)[10:]
            for k in (
                "sensor_id",
                "sensor_type",
                "ts",
                "status",
                "label",
                "score",
                "anomaly",
                "confidence",
                "scorer",
            )
        }
        | {"metrics": {m: first.metrics[m] + v[10:] for m, v in longer.metrics.items()}}
    )
    result = store.write(WriteSet(batches=[longer]))  # seqs 0-9 resent, 10-11 new
    assert result.outcomes[0].stored == 2
    feed.published(result.feed_position, [longer], result)
    consumer = AggregateConsumer(store, feed=feed)
    ConsumerRunner(consumer, store, feed).catch_up()
    assert consumer.from_cache == 0
    assert_equal(store)
    store.close()


def test_a_page_overlapping_what_another_replica_applied_counts_only_the_rest(
    tmp_path: Path,
) -> None:
    rng = random.Random(5)
    store = SqliteStore(tmp_path / "agg.db")
    for n in range(5):
        store.write(WriteSet(batches=[batch("a", 2 * n, [T0 + n, T0 + n + 0.5], rng)]))
    stale = store.feed_after(0, 10)  # replica B read its page from watermark 0 ...
    AggregateConsumer(store).consume(store.feed_after(0, 3))  # ... replica A applied three
    AggregateConsumer(store).consume(stale)  # B applies: only the two entries past A's
    assert stored_windows(store)[("fleet", 60, int(T0))].stats.count == 10
    assert_equal(store)
    store.close()
