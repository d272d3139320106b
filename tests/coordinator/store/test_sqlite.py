"""The SQLite store on real files: migrations, insert-or-ignore, counters, fleet, queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store import ReadingQuery, Refusal, SqliteStore, WriteSet
from edgewatch.coordinator.store.sqlite.migrations import MIGRATIONS, Migration, migrate
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
        migrate(conn, (broken,))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == 0


def test_write_stores_rows_and_counts_duplicates(store: SqliteStore) -> None:
    batch = make_batch("a", 10, epoch=2, first_seq=5)
    first = store.write(WriteSet(batches=[batch]))
    again = store.write(WriteSet(batches=[batch, make_batch("a", 4, epoch=2, first_seq=13)]))
    assert [(o.stored, o.duplicates) for o in first.outcomes] == [(10, 0)]
    assert [(o.stored, o.duplicates) for o in again.outcomes] == [(0, 10), (2, 2)]
    with _raw(store.path) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
        last = conn.execute("SELECT metrics, anomaly, stored_at FROM readings WHERE seq = 14")
        metrics, anomaly, stored_at = last.fetchone()
    assert seqs == list(range(5, 17))
    assert "vibration" not in orjson.loads(metrics) and anomaly == 0
    assert stored_at == pytest.approx(again.stored_at)


def test_counters_survive_a_restart(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.write(WriteSet(batches=[make_batch("a", 3)], refusals=[Refusal("json", None)]))
    store.write(
        WriteSet(batches=[make_batch("a", 3)], refusals=[Refusal("ts_future", "a", readings=7)])
    )
    store.close()
    snap = SqliteStore(tmp_path / "s.db").counters()
    assert snap.fleet.readings_received == 13 and snap.fleet.readings_stored == 3
    assert snap.fleet.duplicates_dropped == 3
    assert snap.fleet.rejected == {"json": 1, "ts_future": 1}
    assert list(snap.agents) == ["a"]  # the unattributed refusal is fleet-wide only
    assert snap.agents["a"].rejected == {"ts_future": 1}


def test_agents_round_trip(store: SqliteStore) -> None:
    rec = AgentRecord(
        id="pi-3",
        first_seen=1.0,
        last_seen=2.0,
        state="online",
        tier="high",
        models={"industrial": "v4"},
        heartbeat={"cpu_percent": 3.5},
        heartbeat_at=2.0,
    )
    store.write(WriteSet(agents=[rec]))
    store.write(WriteSet(agents=[AgentRecord(id="pi-1", first_seen=1.0, last_seen=1.0)]))
    assert store.agent("pi-3") == rec
    assert [a.id for a in store.agents()] == ["pi-1", "pi-3"]
    assert store.agent("nobody") is None


def test_readings_query_filters_orders_and_bounds(store: SqliteStore) -> None:
    late = make_batch("b", 5, first_seq=100, ts=1_700_000_100.0)
    early = make_batch("a", 6, ts=1_700_000_000.0)
    store.write(WriteSet(batches=[late, early]))
    everything = store.readings(ReadingQuery())
    assert [r.ts for r in everything] == sorted(r.ts for r in everything)
    assert [r.agent_id for r in everything] == ["a"] * 6 + ["b"] * 5
    by_sensor = store.readings(ReadingQuery(sensor_id="s-1", agent_id="a"))
    assert [r.seq for r in by_sensor] == [1, 4]
    window = store.readings(ReadingQuery(since=early.ts[2], until=late.ts[0], limit=3))
    assert [r.seq for r in window] == [2, 3, 4]
    assert everything[0].metrics["temperature"] == 20.0 and everything[0].anomaly is False
    with pytest.raises(ValueError, match="limit"):
        ReadingQuery(limit=0)


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


def test_anomalies_are_counted_once_even_when_a_batch_is_resent(store: SqliteStore) -> None:
    flagged = make_batch("a", 6).model_copy(update={"anomaly": [True, False] * 3})
    overlapping = make_batch("a", 6, first_seq=3).model_copy(update={"anomaly": [True] * 6})
    store.write(WriteSet(batches=[flagged]))
    store.write(WriteSet(batches=[flagged]))  # a resend stores nothing new
    # Seqs 3-5 are already stored; only 6-8 are new, and all three are anomalies.
    store.write(WriteSet(batches=[overlapping]))
    snapshot = store.counters()
    assert snapshot.fleet.anomalies_stored == 3 + 3
    assert snapshot.agents["a"].anomalies_stored == 6
