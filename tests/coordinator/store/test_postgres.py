"""What is PostgreSQL's own in the PostgreSQL store: migrations, partitions and the exact
key, replicas writing at once, a lost connection, content the server refuses."""

from __future__ import annotations

import threading

import psycopg
import pytest

from edgewatch.coordinator.errors import StoreError, WriteRefused
from edgewatch.coordinator.store import ReadingQuery, WriteSet
from edgewatch.coordinator.store.postgres.migrations import MIGRATIONS
from edgewatch.coordinator.store.postgres.partitions import DAY_S, partition_name
from edgewatch.coordinator.store.postgres.store import PostgresStore
from tests.support.coordinator import make_batch
from tests.support.stores import pg_url

__all__ = ["pg_url"]
DAY0 = 1_700_006_400.0  # a UTC midnight (19676 days)


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query).fetchall())


def test_migrations_are_recorded_once_and_a_newer_database_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    PostgresStore(pg_url).close()  # reopening applies none
    numbers = [r[0] for r in _sql(pg_url, "SELECT number FROM schema_migrations ORDER BY 1")]
    assert numbers == [m.number for m in MIGRATIONS]
    settings = _sql(pg_url, "SELECT relkind FROM pg_class WHERE relname = 'readings'")
    assert settings == [("p",)]  # partitioned
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(StoreError, match="newer edgewatch"):
        PostgresStore(pg_url)


def test_every_connection_commits_synchronously(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "ALTER DATABASE current_database() SET synchronous_commit = off".replace(
                "current_database()", pg_url.rsplit("/", 1)[1]
            )
        )
    store = PostgresStore(pg_url)
    try:
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    finally:
        store.close()


def test_a_conflict_on_another_day_is_still_caught_by_the_key_table(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        genuine = make_batch("a", 4, ts=DAY0 + 100)
        store.write(WriteSet(batches=[genuine]))
        # Same keys, other content, timestamps three days later: another partition.
        forged = make_batch("a", 4, ts=DAY0 + 3 * DAY_S + 100)
        result = store.write(WriteSet(batches=[forged]))
        assert [(o.stored, o.conflicts) for o in result.outcomes] == [(0, (0, 1, 2, 3))]
        assert [r.ts for r in store.readings(ReadingQuery())] == genuine.ts
        names = {partition_name(19676), partition_name(19679)}
        found = {r[0] for r in _sql(pg_url, "SELECT relname FROM pg_class WHERE relkind = 'r'")}
        assert names <= found
    finally:
        store.close()


def test_retention_drops_whole_days_and_their_keys(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        for day in range(3):
            store.write(
                WriteSet(
                    batches=[make_batch("a", 5, first_seq=5 * day, ts=DAY0 + day * DAY_S + 60)]
                )
            )
        dropped = store.drop_readings_before(DAY0 + 2 * DAY_S)
        assert dropped == [partition_name(19676), partition_name(19677)]
        assert [r.seq for r in store.readings(ReadingQuery())] == list(range(10, 15))
        assert _sql(pg_url, "SELECT count(*) FROM reading_keys") == [(5,)]
        assert store.drop_readings_before(DAY0 + 2 * DAY_S) == []
        # The days are gone whole; a late reading of one is stored again in a new one.
        late = store.write(WriteSet(batches=[make_batch("b", 2, ts=DAY0 + 60)]))
        assert late.outcomes[0].stored == 2
    finally:
        store.close()


def test_replicas_writing_the_same_batches_at_once_store_each_reading_once(pg_url: str) -> None:
    """Two stores (two replicas) get overlapping resends of three agents' batches in
    opposite orders: no deadlock, every key once, counters and feed exact."""
    replicas = [PostgresStore(pg_url), PostgresStore(pg_url)]
    batches = [
        make_batch(agent, 50, first_seq=50 * n, ts=DAY0 + n)
        for n in range(20)
        for agent in ("a", "b", "c")
    ]
    errors: list[BaseException] = []

    def run(store: PostgresStore, order: list[int]) -> None:
        try:
            for i in range(0, len(order), 6):
                store.write(WriteSet(batches=[batches[j] for j in order[i : i + 6]]))
        except BaseException as exc:
            errors.append(exc)

    forward = list(range(len(batches)))
    threads = [
        threading.Thread(target=run, args=(replicas[0], forward)),
        threading.Thread(target=run, args=(replicas[1], forward[::-1])),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        rows = _sql(
            pg_url,
            "SELECT agent_id, count(*), count(DISTINCT seq) FROM readings GROUP BY 1 ORDER BY 1",
        )
        assert rows == [("a", 1000, 1000), ("b", 1000, 1000), ("c", 1000, 1000)]
        counters = replicas[0].counters().fleet
        assert counters.readings_stored == 3000
        assert counters.readings_received == 6000
        assert counters.duplicates_dropped == 3000
        entries = replicas[1].feed_after(0, 1000)
        assert [e.position for e in entries] == list(range(1, len(entries) + 1))
        assert sum(e.stored for e in entries) == 3000
    finally:
        for store in replicas:
            store.close()


def test_a_dropped_connection_is_replaced_and_ingest_goes_on(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.write(WriteSet(batches=[make_batch("a", 5)]))
        name = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        result = store.write(WriteSet(batches=[make_batch("a", 5, first_seq=5)]))
        assert result.outcomes[0].stored == 5
        assert store.ping()
    finally:
        store.close()


def test_content_the_server_refuses_is_write_refused_and_rolls_back(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        bad = make_batch("a", 3).model_copy(update={"status": ["ok\x00", "normal", "normal"]})
        with pytest.raises(WriteRefused):
            store.write(WriteSet(batches=[make_batch("b", 2), bad]))
        assert store.readings(ReadingQuery()) == []
        assert store.write(WriteSet(batches=[make_batch("b", 2)])).outcomes[0].stored == 2
    finally:
        store.close()
