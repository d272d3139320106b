"""coordinator.dashboard.series: chart points from what the store committed, on a clock the
test moves; rates exact, latency from the readings' own timestamps, bounded sampling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgewatch.coordinator.dashboard.series import LiveSeries
from edgewatch.coordinator.store import SqliteStore, WriteSet
from edgewatch.shared.clock import ManualClock
from tests.support.coordinator import make_batch


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "coord.db")
    yield s  # type: ignore[misc]
    s.close()


def test_the_first_sample_finds_the_head_and_old_commits_are_not_charted(
    store: SqliteStore,
) -> None:
    store.write(WriteSet(batches=[make_batch("old", 50)]))
    clock = ManualClock()
    series = LiveSeries(store, clock=clock)
    assert series.sample() is None
    clock.advance(1.0)
    point = series.sample()
    assert point is not None and point.readings_per_s == 0 and point.latency_p50_s is None


def test_a_point_counts_what_was_committed_since_the_last_one(store: SqliteStore) -> None:
    clock = ManualClock()
    series = LiveSeries(store, clock=clock)
    series.sample()
    lag = 0.5
    batch = make_batch("a", 40, ts=time.time() - lag)
    types = ["industrial"] * 20 + ["medical"] * 20
    flags = [i % 4 == 0 for i in range(20)] + [True] * 5 + [False] * 15
    store.write(
        WriteSet(batches=[batch.model_copy(update={"sensor_type": types, "anomaly": flags})])
    )
    store.write(WriteSet(batches=[make_batch("b", 20, ts=time.time() - lag)]))
    clock.advance(2.0)
    point = series.sample()
    assert point is not None
    assert point.readings_per_s == 30.0  # 60 readings over 2 s of the series' clock
    assert point.anomalies_per_s == 5.0  # 10 anomalies over 2 s
    assert point.anomaly_rate == {"industrial": 0.125, "medical": 0.25}  # (5+0)/40, 5/20
    # Each reading's own ts to the commit: about the lag we gave them (the store's real
    # clock stamped the commit just now).
    assert point.latency_p50_s is not None and point.latency_p99_s is not None
    assert lag <= point.latency_p50_s <= point.latency_p99_s < lag + 5.0
    clock.advance(1.0)
    quiet = series.sample()
    assert quiet is not None and quiet.readings_per_s == 0 and quiet.anomaly_rate == {}
    assert [p.t for p in series.points()] == [point.t, quiet.t]


def test_a_busy_interval_reads_a_bounded_sample_but_counts_exactly(store: SqliteStore) -> None:
    clock = ManualClock()
    series = LiveSeries(store, clock=clock, sample=100)
    series.sample()
    for i in range(40):
        store.write(WriteSet(batches=[make_batch("a", 50, first_seq=i * 50)]))
    read: list[int] = []
    real = store.feed_readings

    def counting(entry):  # type: ignore[no-untyped-def]
        found = real(entry)
        read.append(len(found))
        return found

    store.feed_readings = counting  # type: ignore[method-assign]
    clock.advance(1.0)
    point = series.sample()
    assert point is not None and point.readings_per_s == 2000.0
    assert 100 <= sum(read) <= 200  # whole batches of 50, about 100 readings
    assert point.anomaly_rate == {"industrial": 0.0}


def test_history_is_bounded(store: SqliteStore) -> None:
    clock = ManualClock()
    series = LiveSeries(store, clock=clock, history=3)
    series.sample()
    for _ in range(5):
        clock.advance(1.0)
        series.sample()
    assert len(series.points()) == 3
