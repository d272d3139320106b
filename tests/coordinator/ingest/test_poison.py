"""One agent's bad message never stalls ingest for the fleet (real broker, real store).

The defect: a heartbeat with an integer above 2^63 (valid JSON, on the agent's own
topic) made the store's write raise a non-sqlite3 error, the transaction was never
rolled back, and every later transaction failed: an innocent agent stored nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import CommitResult, WriteSet
from edgewatch.shared.codec import encode
from edgewatch.shared.schemas import Heartbeat, Hello
from tests.support.coordinator import (
    TOPICS,
    BrokerRef,
    Publisher,
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
from tests.support.procs import wait_until

__all__ = [
    "coord_broker",
    "coord_embedded",
    "coord_mosquitto",
    "coord_publisher",
    "coord_service",
]


def _heartbeat(agent_id: str, outbox_rows: int = 0) -> bytes:
    beat = Heartbeat(
        agent_id=agent_id,
        ts=time.time(),
        uptime_s=1.0,
        cpu_percent=1.0,
        memory_percent=1.0,
        rss_mb=50.0,
        outbox_rows=0,
        outbox_bytes=0,
        outbox_oldest_age_s=0.0,
        readings_scored=0,
        readings_acked=0,
        scorer="rules",
        mqtt_protocol="5",
    )
    # Valid JSON with an integer orjson itself could not write: patched in as text.
    return encode(beat).replace(b'"outbox_rows":0', f'"outbox_rows":{outbox_rows}'.encode())


def test_heartbeats_with_huge_integers_never_stall_an_innocent_agent(
    coord_service: CoordinatorService, coord_publisher: Publisher
) -> None:
    wait_ready(coord_service, coord_publisher)
    poison = _heartbeat("mallory", outbox_rows=2**64 + 1)
    assert str(2**64 + 1).encode() in poison
    for i in range(20):
        coord_publisher.publish(TOPICS.heartbeat("mallory"), poison)
        coord_publisher.send(make_batch("alice", 25, first_seq=i * 25))
    acks = coord_publisher.wait_acks(20, "alice")
    assert len(acks) == 20 and all(a.stored == 25 for a in acks)
    assert count_rows(coord_service.settings.db, "alice") == 500
    wait_until(
        lambda: coord_service.store.counters().fleet.rejected.get("out_of_range") == 20,
        10,
        message="poison heartbeats not counted",
    )
    assert coord_service.fleet.get("mallory") is None  # nothing it said was applied


def test_a_message_that_cannot_be_stored_is_isolated_and_kept(
    coord_service: CoordinatorService,
    coord_publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever makes a write fail (here: injected for one agent's data), the store
    refuses that transaction; ingest then writes message by message and refuses only
    the one that fails alone."""
    wait_ready(coord_service, coord_publisher)
    real_write = coord_service.store.write

    def refusing(work: WriteSet) -> CommitResult:
        touched = {b.agent_id for b in work.batches} | {r.id for r in work.agents}
        if "mallory" in touched:
            raise WriteRefused("injected: this content cannot be written")
        return real_write(work)

    monkeypatch.setattr(coord_service.store, "write", refusing)
    hello = Hello(agent_id="mallory", ts=time.time(), version="x", tier="low", sensors=1, epoch=9)
    coord_publisher.publish(TOPICS.hello("mallory"), encode(hello))
    bad = make_batch("mallory", 10, epoch=9)
    for i in range(10):
        coord_publisher.send(make_batch("alice", 10, first_seq=i * 10))
        if i == 5:
            coord_publisher.send(bad)
    alice = coord_publisher.wait_acks(10, "alice")
    assert [a.stored for a in alice] == [10] * 10
    (refused,) = coord_publisher.wait_acks(1, "mallory")
    # Acked as rejected (the agent stops resending) only because it is kept whole.
    assert refused.rejected == "unstorable" and refused.stored == 0
    assert count_rows(coord_service.settings.db, "alice") == 100
    assert count_rows(coord_service.settings.db, "mallory") == 0
    counters = coord_service.store.counters()
    assert counters.agents["mallory"].rejected.get("unstorable", 0) >= 2  # hello + batch
    live = coord_service.live()
    assert live is not None and live.poisoned >= 2
    assert coord_service.fleet.get("mallory") is None  # its hello was not half-applied
    kept = _quarantine(coord_service.settings.db)
    assert (("mallory", "unstorable", 0, 9)) in kept


def _quarantine(db: Path) -> list[tuple[str, str, int, int]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT agent_id, reason, first_seq, last_seq FROM quarantine")
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_retained_garbage_is_counted_once_across_restarts(
    tmp_path: Path, coord_broker: BrokerRef, coord_publisher: Publisher
) -> None:
    junk = b'{"schema_version": 2, "agent_id": "junk", "ts": "yesterday"}'
    coord_publisher.client.publish(TOPICS.hello("junk"), junk, qos=1, retain=True).wait_for_publish(
        5
    )
    settings = make_settings(tmp_path, coord_broker.url, client_id="retained-once")
    for _ in range(3):  # three starts, each handed the retained message again
        service = CoordinatorService(settings)
        service.start()
        try:
            assert service.wait_connected(10)
            wait_until(
                lambda s=service: s.live() is not None and s.live().transactions >= 1,  # type: ignore[union-attr]
                10,
                message="retained hello never arrived",
            )
        finally:
            service.stop()
    reopened = CoordinatorService(settings)
    try:
        assert reopened.store.counters().fleet.rejected == {"wrong_type": 1}
    finally:
        reopened.store.close()
    coord_publisher.client.publish(TOPICS.hello("junk"), b"", qos=1, retain=True).wait_for_publish(
        5
    )
