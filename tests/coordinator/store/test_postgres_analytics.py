"""What is PostgreSQL's own in its aggregates and alerts: windows that equal a
recomputation whatever the paging, a rebuild after retention, retention by whole days,
and the rules SQLite's single writer kept that replicas must keep by locking (the
watermark's compare-and-set, one active alert per key)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from edgewatch.coordinator.aggregates.compute import contributions
from edgewatch.coordinator.aggregates.consumer import NAME
from edgewatch.coordinator.aggregates.rebuild import rebuild
from edgewatch.coordinator.aggregates.records import AggregateQuery, Retention
from edgewatch.coordinator.alerts.records import AlertQuery, Change, EdgeReceipt
from edgewatch.coordinator.store import ReadingQuery, WriteSet
from edgewatch.coordinator.store.postgres.partitions import DAY_S, partition_name
from edgewatch.coordinator.store.postgres.store import PostgresStore
from tests.coordinator.aggregates.test_incremental import T0, assert_equal, batch, run_consumer
from tests.support.coordinator import make_batch
from tests.support.stores import pg_url

__all__ = ["pg_url"]
DAY0 = 1_700_006_400.0  # a UTC midnight (19676 days)
RAW = Retention(windows={60: None, 300: None, 900: None, 3600: None}, raw_s=2 * DAY_S)


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_url)
    yield opened
    opened.close()


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query).fetchall())


def _age(url: str, days: float) -> None:
    """Make every feed entry so many days older (retention counts from the commit)."""
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE ingest_feed SET committed_at = committed_at - %s", (days * DAY_S,))


def _at_once(stores: list[PostgresStore], work: Callable[[int, PostgresStore], None]) -> None:
    gate = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def run(i: int, s: PostgresStore) -> None:
        try:
            gate.wait()
            work(i, s)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


# -- windows ------------------------------------------------------------------------------------


def test_a_late_out_of_order_backlog_equals_a_recomputation(store: PostgresStore) -> None:
    rng = random.Random(7)
    for k in range(8):
        ts = [T0 + 7200 + k * 40 + i for i in range(30)]
        store.write(WriteSet(batches=[batch("live", k * 30, ts, rng)]))
    run_consumer(store, 3)  # type: ignore[arg-type]
    # An outage's backlog, across window boundaries, newest chunk first.
    for k in reversed(range(6)):
        ts = [T0 + k * 700 + i * 11 for i in range(25)]
        store.write(WriteSet(batches=[batch("late", k * 25, ts, rng)]))
        if k % 2:
            run_consumer(store, 2)  # type: ignore[arg-type]
    run_consumer(store, 2)  # type: ignore[arg-type]
    assert_equal(store)  # type: ignore[arg-type]
    revised = [w for w in store.aggregates(AggregateQuery(size_s=3600)) if w.revisions]
    assert revised  # the backlog's windows closed long before it landed


def test_a_rebuild_counts_readings_whose_feed_entries_retention_removed(
    store: PostgresStore, pg_url: str
) -> None:
    rng = random.Random(8)
    for k in range(4):
        ts = [T0 + k * 900 + i * 3 for i in range(25)]
        store.write(WriteSet(batches=[batch("a", k * 25, ts, rng)]))
    run_consumer(store, 1)  # type: ignore[arg-type]
    _age(pg_url, 10)
    # Entries go (all but the newest), their readings stay until their day goes whole.
    assert store.expire(time.time(), RAW, [NAME]).feed_entries == 3
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE aggregates SET count = 1, metrics = '{}'")
    assert rebuild(store, None) == (1, 100)
    assert_equal(store)  # type: ignore[arg-type]
    # A reading committed after the rebuild is applied once, on top.
    store.write(WriteSet(batches=[batch("a", 100, [T0 + 1.0], rng)]))
    run_consumer(store, 1)  # type: ignore[arg-type]
    assert_equal(store)  # type: ignore[arg-type]


def test_two_replicas_applying_one_page_at_once_count_it_once(pg_url: str) -> None:
    replicas = [PostgresStore(pg_url), PostgresStore(pg_url)]
    try:
        for round_ in range(10):
            replicas[0].write(
                WriteSet(batches=[make_batch("a", 4, first_seq=4 * round_, ts=DAY0 + round_)])
            )
            after = replicas[0].watermark(NAME)
            entries = replicas[0].feed_after(after, 10)
            updates = contributions(replicas[0].feed_columns(entries))
            won: list[bool] = []
            page = (updates, NAME, after, entries[-1].position)
            _at_once(replicas, lambda _, s, p=page, w=won: w.append(s.apply_aggregates(*p)))
            assert sorted(won) == [False, True], round_
        fleet = replicas[1].aggregates(AggregateQuery(size_s=3600, scope="fleet"))
        assert sum(w.stats.count for w in fleet) == 40
    finally:
        for s in replicas:
            s.close()


# -- retention ------------------------------------------------------------------------------------


def test_retention_empties_whole_days_once_their_entries_are_consumed(
    store: PostgresStore, pg_url: str
) -> None:
    for day in range(2):
        ts = DAY0 + day * DAY_S + 600
        store.write(WriteSet(batches=[make_batch("a", 5, first_seq=5 * day, ts=ts)]))
    _age(pg_url, 10)
    # Not consumed yet: nothing goes, however old.
    assert store.expire(time.time(), RAW, [NAME]).feed_entries == 0
    run_consumer(store, 10)  # type: ignore[arg-type]
    # A backlog of day 0 lands now, and a newest entry of day 2.
    store.write(WriteSet(batches=[make_batch("b", 3, ts=DAY0 + 900)]))
    store.write(WriteSet(batches=[make_batch("a", 2, first_seq=10, ts=DAY0 + 2 * DAY_S + 60)]))
    run_consumer(store, 10)  # type: ignore[arg-type]
    with psycopg.connect(pg_url) as conn:  # the cloud's verdicts on a day-1 and a day-2 reading
        for seq in (5, 10):
            conn.execute(
                "INSERT INTO cloud_verdicts VALUES ('a', 1, %s, 0.5, false, 'onnx:t@1', "
                "'sample', 0)",
                (seq,),
            )
    gone = store.expire(time.time(), RAW, [NAME])
    # Both old entries go; day 1 goes whole; day 0 waits for its backlog's entry.
    assert _sql(pg_url, "SELECT seq FROM cloud_verdicts") == [(10,)]  # day 1's went with it
    assert (gone.feed_entries, gone.readings) == (2, 5)
    left = store.readings(ReadingQuery(limit=100))
    assert sorted((r.agent_id, r.seq) for r in left) == [
        *[("a", s) for s in (0, 1, 2, 3, 4, 10, 11)],
        *[("b", s) for s in (0, 1, 2)],
    ]
    assert _sql(pg_url, "SELECT count(*) FROM reading_keys") == [(10,)]
    _age(pg_url, 10)
    gone = store.expire(time.time(), RAW, [NAME])
    # The backlog's entry goes, then day 0 with it; the newest entry (day 2) always stays.
    assert (gone.feed_entries, gone.readings) == (1, 8)
    assert [(r.agent_id, r.seq) for r in store.readings(ReadingQuery())] == [("a", 10), ("a", 11)]
    assert store.feed_head() == 4
    # The day's partition is emptied, not dropped: a late resend is stored again.
    again = store.write(WriteSet(batches=[make_batch("a", 5, first_seq=5, ts=DAY0 + DAY_S + 600)]))
    assert again.outcomes[0].stored == 5
    assert store.feed_head() == 5


def test_retention_expires_windows_by_size(store: PostgresStore) -> None:
    store.write(WriteSet(batches=[make_batch("a", 5, ts=DAY0 + 60)]))
    run_consumer(store, 10)  # type: ignore[arg-type]
    policy = Retention(windows={60: DAY_S, 300: None, 900: None, 3600: None}, raw_s=None)
    assert store.expire(time.time() + 0.5 * DAY_S, policy, [NAME]).windows == 0
    gone = store.expire(time.time() + 2 * DAY_S, policy, [NAME])
    # One minute of three sensors: fleet, agent, type and three sensor windows.
    assert gone.windows == 6 and gone.readings == 0
    assert not store.aggregates(AggregateQuery(size_s=60))
    assert store.aggregates(AggregateQuery(size_s=3600))


# -- alerts ---------------------------------------------------------------------------------------


def _raise(key: str, source: str, at: float = 1.0) -> Change:
    rule, _, scope = key.partition("/")
    return Change(
        kind="raise",
        key=key,
        rule=rule,
        scope=scope,
        severity="warning",
        at=at,
        actor="rule" if source == "cloud" else source,
        source=source,
    )


def test_replicas_raising_one_key_at_once_make_one_alert_with_every_source(pg_url: str) -> None:
    replicas = [PostgresStore(pg_url) for _ in range(4)]
    try:
        # Each replica raises the same keys, in its own order, from its own source.
        keys = [f"low_battery/agent:{n}" for n in range(6)]

        def work(i: int, s: PostgresStore) -> None:
            mine = keys[i:] + keys[:i]
            for _ in range(3):
                s.apply_alert_changes([_raise(k, f"edge:{i}") for k in mine])

        _at_once(replicas, work)
        active = replicas[0].alerts(AlertQuery(state="active"))
        assert sorted(a.key for a in active) == keys
        for a in active:
            assert a.sources == tuple(f"edge:{i}" for i in range(4))
            kinds = [e.kind for e in replicas[0].alert_history(a.id)]
            assert kinds == ["raised", "updated", "updated", "updated"]
    finally:
        for s in replicas:
            s.close()


def test_an_edge_receipt_resent_to_two_replicas_at_once_is_applied_once(pg_url: str) -> None:
    replicas = [PostgresStore(pg_url) for _ in range(3)]
    applied: list[int] = []
    try:
        receipts = [EdgeReceipt("a", 1, seq, 1.0, b"{}") for seq in range(5)]

        def to_changes(new: object) -> list[Change]:
            assert isinstance(new, list)
            applied.extend(r.seq for r in new)
            return [_raise(f"edge_rule/sensor:{r.seq}", "edge:a") for r in new]

        def work(i: int, s: PostgresStore) -> None:
            s.apply_edge_alerts(receipts[::-1] if i % 2 else receipts, to_changes)

        _at_once(replicas, work)
        assert sorted(applied) == list(range(5))
        assert len(replicas[0].alerts(AlertQuery(state="open"))) == 5
    finally:
        for s in replicas:
            s.close()


def test_a_day_held_by_a_long_reader_waits_for_the_next_pass(
    store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgewatch.coordinator.store.postgres import retention

    monkeypatch.setattr(retention, "LOCK_WAIT", "200ms")
    for day in range(2):
        ts = DAY0 + day * DAY_S + 600
        store.write(WriteSet(batches=[make_batch("a", 5, first_seq=5 * day, ts=ts)]))
    run_consumer(store, 10)  # type: ignore[arg-type]
    _age(pg_url, 10)
    with psycopg.connect(pg_url) as reader:  # a transaction left open on day 0
        reader.execute(f"SELECT count(*) FROM {partition_name(19676)}")
        gone = store.expire(time.time(), RAW, [NAME])
        assert (gone.feed_entries, gone.readings) == (1, 0)
    assert store.expire(time.time(), RAW, [NAME]).readings == 5
