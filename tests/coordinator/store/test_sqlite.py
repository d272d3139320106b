"""What is SQLite's own in the SQLite store: migrations, WAL, errors (the rest: test_contract)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgewatch.coordinator.errors import StoreError, StoreUnavailable, WriteRefused
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store import ReadingQuery, SqliteStore, WriteSet
from edgewatch.coordinator.store.sqlite.migrations import MIGRATIONS, migrate
from edgewatch.shared.sqlite_migrations import Migration
from edgewatch.shared.sqlite_migrations import migrate as run_migrations
from tests.support.coordinator import make_batch

READING_COLUMNS = [
    "agent_id",
    "epoch",
    "seq",
    "sensor_id",
    "sensor_type",
    "ts",
    "metrics",
    "status",
    "label",
    "score",
    "anomaly",
    "confidence",
    "scorer",
    "stored_at",
    "feed_id",
]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "s.db")


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def test_migrations_are_recorded_and_reopening_applies_none(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").close()
    with _raw(tmp_path / "s.db") as conn:
        numbers = [r[0] for r in conn.execute("SELECT number FROM schema_migrations")]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(readings)")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.isolation_level = None
        assert migrate(conn) == 0
    assert numbers == [m.number for m in MIGRATIONS]
    assert columns == READING_COLUMNS


def test_a_failing_migration_rolls_back_whole(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    broken = Migration(1, "broken", ("CREATE TABLE half (x)", "THIS IS NOT SQL"))
    with pytest.raises(StoreError, match="migration 1"):
        run_migrations(conn, (broken,), error=StoreError)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == 0


def test_a_reader_is_not_blocked_by_an_open_write_transaction(store: SqliteStore) -> None:
    store.write(WriteSet(batches=[make_batch("a", 2)]))
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM readings")
    try:
        assert len(store.readings(ReadingQuery())) == 2  # WAL: readers see the last commit
        assert store.ping()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_unopenable_store_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(tmp_path / "dir.db")


def test_a_store_written_by_a_newer_release_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").close()
    with _raw(tmp_path / "s.db") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(StoreError, match="newer edgewatch"):
        SqliteStore(tmp_path / "s.db")


def test_any_exception_inside_a_write_rolls_back_and_the_next_write_works(
    store: SqliteStore,
) -> None:
    """An exception that is not a sqlite3.Error (orjson, an int SQLite cannot hold) used
    to leave the connection inside its transaction: every later write then failed with
    'cannot start a transaction within a transaction'."""
    huge = AgentRecord(id="x", first_seen=1.0, last_seen=1.0, heartbeat={"n": 2**64})
    with pytest.raises(WriteRefused):
        store.write(WriteSet(batches=[make_batch("a", 3)], agents=[huge]))
    assert store.readings(ReadingQuery()) == []  # the whole transaction rolled back
    result = store.write(WriteSet(batches=[make_batch("a", 3)]))
    assert result.outcomes[0].stored == 3


def test_a_failing_disk_is_unavailable_not_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "locked.db", busy_timeout_ms=50)
    store.write(WriteSet(batches=[make_batch("a", 1)]))
    other = sqlite3.connect(store.path, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # the database is locked: not this content's fault
    try:
        with pytest.raises(StoreUnavailable):
            store.write(WriteSet(batches=[make_batch("a", 1, first_seq=1)]))
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_reads_keep_one_connection_per_thread_and_none_outlives_close(tmp_path: Path) -> None:
    import threading

    store = SqliteStore(tmp_path / "r.db")
    store.counters()
    store.agents()
    assert len(store._readers) == 1  # the same connection for this thread's reads
    other = threading.Thread(target=store.counters)
    other.start()
    other.join()
    assert len(store._readers) == 2
    store.close()
    assert store._readers == {}
    with pytest.raises(StoreUnavailable, match="closed"):
        store.counters()  # a read after close opens nothing that would leak
    assert store._readers == {}
