"""The outbox on real SQLite files: numbering, acks, bounds, drops, restarts, corruption."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgewatch.agent.errors import OutboxCorrupt, OutboxError, OutboxMismatch
from edgewatch.agent.outbox import AckedChunk, Outbox


def _open(path: Path, **kw: int) -> Outbox:
    return Outbox(
        path, "a1", max_rows=kw.get("max_rows", 10_000), max_bytes=kw.get("max_bytes", 10_000_000)
    )


def test_seq_numbers_are_contiguous_and_survive_restart(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    box = _open(db)
    assert box.append(b"x" * 10, 5, position=5) == 0
    assert box.append(b"y" * 10, 3, position=8) == 5
    epoch = box.epoch
    box.close()
    again = _open(db)
    assert (again.epoch, again.next_seq, again.position) == (epoch, 8, 8)
    assert again.append(b"z", 2, position=10) == 8
    assert [c.first_seq for c in again.chunks(0)] == [0, 5, 8]


def test_ack_removes_only_covered_chunks(tmp_path: Path) -> None:
    box = _open(tmp_path / "o.db")
    for i in range(4):
        box.append(b"p", 10, position=(i + 1) * 10)
    assert box.acknowledge([AckedChunk(10, 10), AckedChunk(30, 10)]) == 20
    assert [c.first_seq for c in box.chunks(0)] == [0, 20]
    # An ack that names a chunk's start but not its size removes nothing.
    assert box.acknowledge([AckedChunk(0, 5)]) == 0
    # Nor does one that would cover it as part of a wider range.
    assert box.acknowledge([AckedChunk(0, 30)]) == 0
    assert box.stats().rows == 20
    # Acks are idempotent: a duplicate ack is harmless.
    assert box.acknowledge([AckedChunk(10, 10)]) == 0


def test_rejected_ack_counts_a_drop_by_reason(tmp_path: Path) -> None:
    box = _open(tmp_path / "o.db")
    box.append(b"p", 7, position=7)
    box.acknowledge([AckedChunk(0, 7, rejected="ts_future")])
    assert box.stats().dropped == {"rejected:ts_future": 7}
    assert box.stats().rows == 0


def test_bound_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    box = _open(db, max_rows=25)
    for i in range(6):
        box.append(b"p", 10, position=(i + 1) * 10)
    stats = box.stats()
    assert stats.rows <= 25
    assert stats.dropped == {"bound": 40}
    assert [c.first_seq for c in box.chunks(0)] == [40, 50]
    box.close()
    # The drop counter is durable.
    assert _open(db, max_rows=25).stats().dropped == {"bound": 40}


def test_byte_bound(tmp_path: Path) -> None:
    box = _open(tmp_path / "o.db", max_bytes=2500)
    for i in range(5):
        box.append(b"p" * 1000, 1, position=i + 1)
    assert box.stats().bytes <= 2500
    assert box.stats().dropped["bound"] == 3


def test_outbox_of_another_agent_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    _open(db).close()
    with pytest.raises(OutboxMismatch):
        Outbox(db, "someone-else", max_rows=10, max_bytes=10_000)


def test_corrupt_file_is_moved_aside_and_a_new_epoch_starts(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    box = _open(db)
    box.append(b"p", 3, position=3)
    old_epoch = box.epoch
    box.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    raw = bytearray(db.read_bytes())
    raw[0:16] = b"garbage garbage!"
    db.write_bytes(bytes(raw))
    fresh = _open(db)
    assert fresh.recovered_from is not None and fresh.recovered_from.exists()
    assert fresh.epoch != old_epoch
    assert fresh.next_seq == 0
    assert fresh.integrity_ok()


def test_rows_are_readable_by_plain_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    box = _open(db)
    box.append(b'{"a":1}', 1, position=1)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT n, payload FROM chunks").fetchall() == [(1, b'{"a":1}')]


def test_a_locked_outbox_is_not_mistaken_for_a_corrupt_one(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    box = _open(db)
    box.append(b"p", 5, position=5)
    box.close()
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OutboxError) as info:
            Outbox(db, "a1", max_rows=10, max_bytes=10_000, busy_timeout_s=0.3).close()
        assert not isinstance(info.value, OutboxCorrupt)
    finally:
        holder.rollback()
        holder.close()
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert _open(db).stats().rows == 5  # the readings are still there


def test_conflicted_chunk_is_kept_aside_not_deleted(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    box = _open(db)
    box.append(b"payload-0", 10, position=10)
    box.append(b"payload-1", 10, position=20)
    removed = box.acknowledge([AckedChunk(0, 10, conflicts=((2, 3), (7, 7)))])
    assert removed == 10 and box.stats().rows == 10
    assert box.conflicted == 3
    box.close()
    # Kept on disk, whole, and counted again after a restart.
    reopened = _open(db)
    assert reopened.conflicted == 3
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT first_seq, n, ranges, readings, payload FROM conflicted").fetchone()
    assert row == (0, 10, "[[2, 3], [7, 7]]", 3, b"payload-0")


def test_an_outbox_of_the_first_release_is_adopted_with_its_readings(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    # The first release's schema, exactly, without a migration ledger.
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE chunks (first_seq INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n > 0),
                             created REAL NOT NULL, payload BLOB NOT NULL);
        CREATE TABLE drops (reason TEXT PRIMARY KEY, readings INTEGER NOT NULL);
        INSERT INTO meta VALUES ('agent_id', 'a1'), ('epoch', '77'), ('next_seq', '5'),
                                ('position', '5'), ('created', '1.0');
        INSERT INTO chunks VALUES (0, 5, 1.0, x'00');
        """
    )
    conn.close()
    box = _open(db)
    assert (box.epoch, box.next_seq, box.stats().rows) == (77, 5, 5)
    assert box.conflicted == 0


def test_an_outbox_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    _open(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(OutboxError, match="newer edgewatch"):
        _open(db)
