"""Ingest: commit then ack, duplicates, refusals, backpressure, store faults."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from edgewatch.coordinator.errors import StoreUnavailable
from edgewatch.coordinator.ingest.inbox import Inbox
from edgewatch.coordinator.ingest.judge import Inbound, Limits, Refused, judge
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import WriteSet
from edgewatch.shared.schemas import ResultBatch
from tests.support.coordinator import (
    TOPICS,
    Publisher,
    batch_dict,
    coord_broker,
    coord_embedded,
    coord_mosquitto,
    coord_publisher,
    coord_service,
    count_rows,
    make_batch,
    make_settings,
    wait_ready,
)

__all__ = [
    "coord_broker",
    "coord_embedded",
    "coord_mosquitto",
    "coord_publisher",
    "coord_service",
]
LIMITS = Limits(max_bytes=64 * 1024, max_future_skew_s=86_400)


def test_ack_arrives_only_after_rows_are_visible(
    coord_service: CoordinatorService, coord_publisher: Publisher
) -> None:
    wait_ready(coord_service, coord_publisher)
    db = coord_service.settings.db
    seen_at_ack: list[int] = []
    coord_publisher.on_ack = lambda ack: seen_at_ack.append(count_rows(db, ack.agent_id))
    coord_publisher.send(make_batch("a1", 50, first_seq=0))
    coord_publisher.send(make_batch("a1", 50, first_seq=50))
    acks = coord_publisher.wait_acks(2, "a1")
    assert [(a.first_seq, a.last_seq, a.stored, a.duplicates) for a in acks] == [
        (0, 49, 50, 0),
        (50, 99, 50, 0),
    ]
    # Each ack saw at least its own rows from a separate connection: commit came first.
    assert seen_at_ack[0] >= 50 and seen_at_ack[1] == 100
    assert count_rows(db, "a1") == 100


def test_replayed_batch_is_stored_once_and_acked_twice(
    coord_service: CoordinatorService, coord_publisher: Publisher
) -> None:
    wait_ready(coord_service, coord_publisher)
    batch = make_batch("a2", 30, epoch=7, first_seq=100)
    coord_publisher.send(batch)
    coord_publisher.wait_acks(1, "a2")
    coord_publisher.send(batch)
    acks = coord_publisher.wait_acks(2, "a2")
    assert [(a.stored, a.duplicates) for a in acks] == [(30, 0), (0, 30)]
    assert count_rows(coord_service.settings.db, "a2") == 30
    stats = coord_service.store.counters().agents["a2"]
    assert (stats.readings_received, stats.readings_stored, stats.duplicates_dropped) == (
        60,
        30,
        30,
    )


def test_future_batch_is_quarantined_then_acked_as_rejected(
    coord_service: CoordinatorService, coord_publisher: Publisher
) -> None:
    wait_ready(coord_service, coord_publisher)
    batch = make_batch("a3", 5, ts=time.time() + 3 * 86_400)
    coord_publisher.send(batch)
    (ack,) = coord_publisher.wait_acks(1, "a3")
    assert ack.rejected == "ts_future" and ack.stored == 0 and ack.last_seq == 4
    assert count_rows(coord_service.settings.db, "a3") == 0
    assert coord_service.store.counters().agents["a3"].rejected == {"ts_future": 1}
    # The ack lets the agent delete its copy, so ours was committed first, whole: a
    # coordinator with a wrong clock must not destroy good data.
    conn = sqlite3.connect(coord_service.settings.db)
    kept = conn.execute("SELECT reason, first_seq, last_seq, payload FROM quarantine").fetchall()
    conn.close()
    assert len(kept) == 1 and kept[0][:3] == ("ts_future", 0, 4)
    assert ResultBatch.model_validate_json(kept[0][3]) == batch


def test_store_failure_sends_no_ack_and_the_resend_is_stored(
    coord_service: CoordinatorService,
    coord_publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wait_ready(coord_service, coord_publisher)
    real_write = coord_service.store.write
    failures: list[WriteSet] = []

    def failing_write(work: WriteSet) -> object:
        if work.batches and not failures:
            failures.append(work)
            raise StoreUnavailable("disk on fire (injected)")
        return real_write(work)

    monkeypatch.setattr(coord_service.store, "write", failing_write)
    batch = make_batch("a4", 20)
    coord_publisher.send(batch)
    assert coord_publisher.wait_acks(1, "a4", timeout=1.5) == []
    assert failures and count_rows(coord_service.settings.db, "a4") == 0
    coord_publisher.send(batch)  # what the agent does after its ack timeout
    (ack,) = coord_publisher.wait_acks(1, "a4")
    assert (ack.stored, ack.duplicates) == (20, 0)
    live = coord_service.live()
    assert live is not None and live.store_errors == 1


def _inbound(topic: str, payload: bytes) -> Inbound:
    return Inbound(topic, payload, time.time())


def test_judge_refuses_mismatched_agent_without_ack() -> None:
    payload = orjson.dumps(batch_dict(make_batch("other")))
    verdict = judge(_inbound(TOPICS.results("a5"), payload), TOPICS, LIMITS)
    assert isinstance(verdict, Refused)
    assert (verdict.reason, verdict.agent_id, verdict.ack) == ("agent_mismatch", "a5", None)


def test_judge_refuses_foreign_topic_unattributed() -> None:
    verdict = judge(_inbound("elsewhere/agents/a5/results", b"{}"), TOPICS, LIMITS)
    assert isinstance(verdict, Refused) and verdict.agent_id is None
    assert verdict.reason == "bad_topic"


def test_judge_refuses_ms_timestamps_by_range() -> None:
    batch = batch_dict(make_batch("a6", 3))
    batch["ts"] = [t * 1000 for t in batch["ts"]]
    verdict = judge(_inbound(TOPICS.results("a6"), orjson.dumps(batch)), TOPICS, LIMITS)
    assert isinstance(verdict, Refused) and verdict.reason == "ts_range"


def test_inbox_counts_full_and_lets_go_after_blocking() -> None:
    fulls: list[int] = []
    inbox = Inbox(2, block_s=0.05, on_full=lambda: fulls.append(1))
    item = _inbound("t", b"x")
    assert [inbox.put(item) for _ in range(3)] == [True, True, False]
    assert (inbox.full, inbox.overflowed, len(fulls)) == (1, 1, 1)
    assert len(inbox.drain(10, timeout=0.1)) == 2
    inbox.close()
    assert inbox.put(item) is False and inbox.refused_closed == 1


def test_stop_commits_and_acks_what_was_queued(
    coord_service: CoordinatorService,
    coord_publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wait_ready(coord_service, coord_publisher)
    real_write, real_put = coord_service.store.write, coord_service.inbox.put
    queued: list[Inbound] = []

    def slow_write(work: WriteSet) -> object:
        time.sleep(0.2)  # a slow disk (injected), so messages pile up in the queue
        return real_write(work)

    def counting_put(item: Inbound) -> bool:
        queued.append(item)
        return real_put(item)

    monkeypatch.setattr(coord_service.store, "write", slow_write)
    monkeypatch.setattr(coord_service.inbox, "put", counting_put)
    for i in range(5):
        coord_publisher.send(make_batch("a7", 100, first_seq=i * 100))
    deadline = time.monotonic() + 5
    while len(queued) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count_rows(coord_service.settings.db, "a7") < 500  # still queued when we stop
    coord_service.stop()
    acks = coord_publisher.wait_acks(5, "a7", timeout=5)
    assert count_rows(coord_service.settings.db, "a7") == 500
    assert sorted(a.first_seq for a in acks) == [0, 100, 200, 300, 400]


def test_batches_sent_while_the_coordinator_restarts_are_queued_for_it(
    tmp_path: Path, coord_mosquitto: str
) -> None:
    settings = make_settings(tmp_path, coord_mosquitto, client_id="coord-restart")
    pub = Publisher(coord_mosquitto)
    try:
        first = CoordinatorService(settings)
        first.start()
        assert first.wait_connected(10)
        wait_ready(first, pub)
        first.stop()  # clean disconnect: the broker keeps the persistent session
        pub.send(make_batch("r9", 40))  # nobody is listening right now
        second = CoordinatorService(settings)
        second.start()
        try:
            (ack,) = pub.wait_acks(1, "r9")
        finally:
            second.stop()
    finally:
        pub.close()
    assert (ack.stored, ack.duplicates) == (40, 0)
    assert count_rows(settings.db, "r9") == 40
