"""Retention counts from when a reading was stored, never from its own timestamp: a
backlog that lands late is kept its full period; windows go by size once not updated
for their retention; raw readings only past every consumer's watermark."""

from __future__ import annotations

import time
from pathlib import Path

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.aggregates.records import AggregateQuery, Retention
from edgewatch.coordinator.aggregates.retention import DAY, RetentionDuty
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.store import ReadingQuery, SqliteStore, WriteSet
from edgewatch.shared.clock import ManualClock
from tests.support.coordinator import make_batch

POLICY = Retention(windows={60: 1 * DAY, 300: None, 900: None, 3600: None}, raw_s=2 * DAY)


def _apply(store: SqliteStore) -> None:
    ConsumerRunner(AggregateConsumer(store), store, CommittedFeed()).catch_up()


def test_a_late_backlog_is_kept_for_its_full_period(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    # Readings made 40 days ago, arriving now (an agent offline for weeks).
    store.write(WriteSet(batches=[make_batch("old", 5, first_seq=0, ts=time.time() - 40 * DAY)]))
    store.write(WriteSet(batches=[make_batch("old", 5, first_seq=5, ts=time.time() - 40 * DAY)]))
    _apply(store)
    clock = ManualClock(wall=time.time())
    duty = RetentionDuty(store, POLICY, ["aggregates"], clock=clock)
    assert duty.sweep().readings == 0  # stored now: not expired on arrival
    assert len(store.readings(ReadingQuery())) == 10
    assert store.aggregates(AggregateQuery(size_s=60))
    clock.advance(1.5 * DAY)
    gone = duty.sweep()
    assert gone.windows > 0 and gone.readings == 0  # 1 m windows go after a day
    assert not store.aggregates(AggregateQuery(size_s=60))
    assert store.aggregates(AggregateQuery(size_s=3600))  # kept forever (None)
    clock.advance(1 * DAY)
    gone = duty.sweep()
    # Two days after storing: the readings go, but never the feed's newest entry
    # (its position numbers the next one): its 5 readings stay.
    assert gone.readings == 5 and len(store.readings(ReadingQuery())) == 5
    store.close()


def test_raw_readings_wait_for_every_consumer(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    for k in range(3):
        store.write(WriteSet(batches=[make_batch("a", 4, first_seq=4 * k)]))
    clock = ManualClock(wall=time.time() + 10 * DAY)
    duty = RetentionDuty(store, POLICY, ["aggregates"], clock=clock)
    assert duty.sweep().readings == 0  # the aggregates consumer has not read them yet
    _apply(store)
    assert duty.sweep().readings == 8  # all but the newest entry's
    store.close()
