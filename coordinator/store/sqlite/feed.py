"""The committed feed, consumer watermarks and sensor activity on SQLite.

Readings of a feed entry are found by the readings table's primary key range
``(agent_id, epoch, first_seq..last_seq)`` narrowed to ``feed_id``: no index beyond the
key, so the feed costs ingest one small insert per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from edgewatch.coordinator.store.records import FeedEntry, SensorActivity
from edgewatch.coordinator.store.sqlite.rows import READING_COLUMNS, result_of
from edgewatch.shared.schemas import Result

_ENTRY = "id, committed_at, agent_id, epoch, first_seq, last_seq, stored, anomalies"
_SENSOR = "sensor_id, sensor_type, agent_id, first_ts, last_ts, last_stored_at, readings, anomalies"


def _entry(row: sqlite3.Row) -> FeedEntry:
    return FeedEntry(
        position=int(row["id"]),
        committed_at=float(row["committed_at"]),
        agent_id=row["agent_id"],
        epoch=int(row["epoch"]),
        first_seq=int(row["first_seq"]),
        last_seq=int(row["last_seq"]),
        stored=int(row["stored"]),
        anomalies=int(row["anomalies"]),
    )


def entries_after(conn: sqlite3.Connection, position: int, limit: int) -> list[FeedEntry]:
    rows = conn.execute(
        f"SELECT {_ENTRY} FROM ingest_feed WHERE id > ? ORDER BY id LIMIT ?", (position, limit)
    )
    return [_entry(r) for r in rows]


def entry_readings(conn: sqlite3.Connection, entry: FeedEntry) -> list[Result]:
    rows = conn.execute(
        f"SELECT {READING_COLUMNS} FROM readings WHERE agent_id = ? AND epoch = ? "
        "AND seq BETWEEN ? AND ? AND feed_id = ? ORDER BY seq",
        (entry.agent_id, entry.epoch, entry.first_seq, entry.last_seq, entry.position),
    )
    return [result_of(r) for r in rows]


def sensor_summary(conn: sqlite3.Connection, entries: Sequence[FeedEntry]) -> list[SensorActivity]:
    """Per sensor, what ``entries`` stored: one grouped range scan per entry."""
    merged: dict[str, SensorActivity] = {}
    for e in entries:
        rows = conn.execute(
            "SELECT sensor_id, sensor_type, MIN(ts), MAX(ts), COUNT(*), SUM(anomaly) "
            "FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ? "
            "AND feed_id = ? GROUP BY sensor_id, sensor_type",
            (e.agent_id, e.epoch, e.first_seq, e.last_seq, e.position),
        )
        for sid, stype, first, last, count, anomalies in rows:
            seen = SensorActivity(
                sid, stype, e.agent_id, first, last, e.committed_at, count, anomalies or 0
            )
            merged[sid] = seen if sid not in merged else _merge(merged[sid], seen)
    return list(merged.values())


def _merge(a: SensorActivity, b: SensorActivity) -> SensorActivity:
    newer = b if b.last_ts >= a.last_ts else a
    return SensorActivity(
        sensor_id=a.sensor_id,
        sensor_type=newer.sensor_type,
        agent_id=newer.agent_id,
        first_ts=min(a.first_ts, b.first_ts),
        last_ts=max(a.last_ts, b.last_ts),
        last_stored_at=max(a.last_stored_at, b.last_stored_at),
        readings=a.readings + b.readings,
        anomalies=a.anomalies + b.anomalies,
    )


def head(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM ingest_feed").fetchone()
    return int(row[0])


def watermark(conn: sqlite3.Connection, consumer: str) -> int:
    row = conn.execute("SELECT position FROM watermarks WHERE consumer = ?", (consumer,)).fetchone()
    return 0 if row is None else int(row[0])


def watermark_of(cur: sqlite3.Cursor, consumer: str) -> int:
    """``watermark`` inside a write transaction (on the writer's cursor)."""
    row = cur.execute("SELECT position FROM watermarks WHERE consumer = ?", (consumer,)).fetchone()
    return 0 if row is None else int(row[0])


def set_watermark(cur: sqlite3.Cursor, consumer: str, position: int, now: float) -> None:
    # MAX: a watermark never moves back, even if a stale consumer instance writes late.
    cur.execute(
        "INSERT INTO watermarks (consumer, position, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (consumer) DO UPDATE SET position = MAX(position, excluded.position), "
        "updated_at = excluded.updated_at",
        (consumer, position, now),
    )


def merge_sensor_activity(cur: sqlite3.Cursor, updates: Sequence[SensorActivity]) -> None:
    """Add counts, widen the time span, keep the newest type and agent per sensor."""
    cur.executemany(
        f"INSERT INTO sensors ({_SENSOR}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sensor_id) DO UPDATE SET "
        "sensor_type = CASE WHEN excluded.last_ts >= last_ts THEN excluded.sensor_type "
        "ELSE sensor_type END, "
        "agent_id = CASE WHEN excluded.last_ts >= last_ts THEN excluded.agent_id "
        "ELSE agent_id END, "
        "first_ts = MIN(first_ts, excluded.first_ts), "
        "last_ts = MAX(last_ts, excluded.last_ts), "
        "last_stored_at = MAX(last_stored_at, excluded.last_stored_at), "
        "readings = readings + excluded.readings, "
        "anomalies = anomalies + excluded.anomalies",
        [
            (
                u.sensor_id,
                u.sensor_type,
                u.agent_id,
                u.first_ts,
                u.last_ts,
                u.last_stored_at,
                u.readings,
                u.anomalies,
            )
            for u in updates
        ],
    )


def _sensor(row: sqlite3.Row) -> SensorActivity:
    return SensorActivity(
        sensor_id=row["sensor_id"],
        sensor_type=row["sensor_type"],
        agent_id=row["agent_id"],
        first_ts=float(row["first_ts"]),
        last_ts=float(row["last_ts"]),
        last_stored_at=float(row["last_stored_at"]),
        readings=int(row["readings"]),
        anomalies=int(row["anomalies"]),
    )


def sensors(conn: sqlite3.Connection) -> list[SensorActivity]:
    return [_sensor(r) for r in conn.execute(f"SELECT {_SENSOR} FROM sensors ORDER BY sensor_id")]


def sensor(conn: sqlite3.Connection, sensor_id: str) -> SensorActivity | None:
    row = conn.execute(
        f"SELECT {_SENSOR} FROM sensors WHERE sensor_id = ?", (sensor_id,)
    ).fetchone()
    return None if row is None else _sensor(row)
