"""WAL checkpoints run beside ingest, not inside its commits, and the WAL stays bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgewatch.coordinator.store import ReadingQuery, SqliteStore, WriteSet
from edgewatch.coordinator.store.sqlite.checkpoint import Checkpointer
from tests.support.coordinator import make_batch
from tests.support.procs import wait_until


def test_the_writer_never_checkpoints_by_itself(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        auto = store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert auto == 0
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


def test_the_checkpointer_copies_the_wal_back_and_close_truncates_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    checkpointer = store._checkpointer
    checkpointer.soft_limit_bytes = 1  # checkpoint after every commit
    for n in range(20):
        store.write(WriteSet(batches=[make_batch("a", 200, first_seq=200 * n)]))
    wait_until(lambda: checkpointer.checkpoints > 0, 10, message="no checkpoint ran")
    store.close()
    assert checkpointer.wal_bytes() == 0  # TRUNCATE at close
    # Everything committed is in the database file itself now.
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 4000
    finally:
        conn.close()
    reopened = SqliteStore(tmp_path / "s.db")
    try:
        assert len(reopened.readings(ReadingQuery(limit=10_000))) == 4000
    finally:
        reopened.close()


def test_a_busy_database_makes_a_checkpoint_fail_quietly_and_retry(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").close()
    checkpointer = Checkpointer(tmp_path / "s.db", busy_ms=10)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert checkpointer.checkpoint("TRUNCATE") is False
        assert checkpointer.failures == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert checkpointer.checkpoint("TRUNCATE") is True
    checkpointer.close()
