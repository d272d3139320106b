"""The committed feed, consumer watermarks and sensor activity on PostgreSQL.

A feed entry's readings are the keys of its batch (``reading_keys.batch_id``) in its
seq range, joined to their rows by ``(ts, agent_id, epoch, seq)``: partition pruning
and the ``readings_ts`` index, no index on readings for the feed alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.store.records import FeedEntry, SensorActivity
from edgewatch.coordinator.store.sqlite.feed import _merge
from edgewatch.coordinator.store.sqlite.rows import READING_COLUMNS, result_of
from edgewatch.shared.schemas import Result

_ENTRY = "position, committed_at, agent_id, epoch, first_seq, last_seq, stored, anomalies"
_SENSOR = "sensor_id, sensor_type, agent_id, first_ts, last_ts, last_stored_at, readings, anomalies"
_JOIN = (
    "FROM ingest_feed f JOIN reading_keys k ON k.agent_id = f.agent_id AND k.epoch = f.epoch "
    "AND k.seq BETWEEN f.first_seq AND f.last_seq AND k.batch_id = f.batch_id "
    "JOIN readings r ON r.ts = k.ts AND r.agent_id = k.agent_id AND r.epoch = k.epoch "
    "AND r.seq = k.seq"
)


def _entry(row: Sequence[Any]) -> FeedEntry:
    p, at, agent, epoch, first, last, stored, anomalies = row
    return FeedEntry(
        int(p), float(at), agent, int(epoch), int(first), int(last), int(stored), int(anomalies)
    )


def entries_after(conn: Connection, position: int, limit: int) -> list[FeedEntry]:
    rows = conn.execute(
        sa.text(f"SELECT {_ENTRY} FROM ingest_feed WHERE position > :p ORDER BY position LIMIT :n"),
        {"p": position, "n": limit},
    )
    return [_entry(r) for r in rows]


def entry_readings(conn: Connection, entry: FeedEntry) -> list[Result]:
    columns = ", ".join(f"r.{c.strip()}" for c in READING_COLUMNS.split(","))
    rows = conn.execute(
        sa.text(f"SELECT {columns} {_JOIN} WHERE f.position = :p ORDER BY r.seq"),
        {"p": entry.position},
    )
    return [result_of(r._mapping) for r in rows]  # type: ignore[arg-type]


def sensor_summary(conn: Connection, entries: Sequence[FeedEntry]) -> list[SensorActivity]:
    """Per sensor, what ``entries`` stored: one grouped query for the whole page."""
    if not entries:
        return []
    by_position = {e.position: e for e in entries}
    rows = conn.execute(
        sa.text(
            "SELECT f.position, r.sensor_id, r.sensor_type, MIN(r.ts), MAX(r.ts), COUNT(*), "
            f"COUNT(*) FILTER (WHERE r.anomaly) {_JOIN} WHERE f.position = ANY(:ps) "
            "GROUP BY f.position, r.sensor_id, r.sensor_type ORDER BY f.position"
        ),
        {"ps": list(by_position)},
    )
    merged: dict[str, SensorActivity] = {}
    for position, sid, stype, first, last, count, anomalies in rows:
        e = by_position[int(position)]
        seen = SensorActivity(
            sid, stype, e.agent_id, first, last, e.committed_at, int(count), int(anomalies)
        )
        merged[sid] = seen if sid not in merged else _merge(merged[sid], seen)
    return list(merged.values())


def head(conn: Connection) -> int:
    row = conn.execute(sa.text("SELECT COALESCE(MAX(position), 0) FROM ingest_feed")).first()
    return int(row[0]) if row else 0


def watermark(conn: Connection, consumer: str) -> int:
    row = conn.execute(
        sa.text("SELECT position FROM watermarks WHERE consumer = :c"), {"c": consumer}
    ).first()
    return 0 if row is None else int(row[0])


def set_watermark(conn: Connection, consumer: str, position: int, now: float) -> None:
    # GREATEST: a watermark never moves back, even if a stale consumer writes late.
    conn.execute(
        sa.text(
            "INSERT INTO watermarks (consumer, position, updated_at) VALUES (:c, :p, :t) "
            "ON CONFLICT (consumer) DO UPDATE SET "
            "position = GREATEST(watermarks.position, excluded.position), "
            "updated_at = excluded.updated_at"
        ),
        {"c": consumer, "p": position, "t": now},
    )


def claim(conn: Connection, consumer: str, after: int, position: int, now: float) -> bool:
    """Move ``consumer``'s watermark from ``after`` to ``position``; False (nothing
    written) when it is not ``after``. The row stays locked until the commit: of two
    replicas applying pages from one watermark, exactly one wins."""
    moved = sa.text(
        "UPDATE watermarks SET position = GREATEST(position, :p), updated_at = :t "
        "WHERE consumer = :c AND position = :after"
    )
    params = {"c": consumer, "p": position, "t": now, "after": after}
    if conn.execute(moved, params).rowcount:
        return True
    if after != 0:
        return False
    # Never ran: no row yet. Two first pages at once both get here; the second insert
    # waits for the first and does nothing.
    made = conn.execute(
        sa.text(
            "INSERT INTO watermarks (consumer, position, updated_at) VALUES (:c, :p, :t) "
            "ON CONFLICT (consumer) DO NOTHING"
        ),
        params,
    )
    if made.rowcount:
        return True
    # A row appeared meanwhile (a rebuild's ``hold`` makes one at 0): ask it again, now
    # that this statement's snapshot sees it.
    return bool(conn.execute(moved, params).rowcount)


def merge_sensor_activity(conn: Connection, updates: Sequence[SensorActivity]) -> None:
    """Add counts, widen the time span, keep the newest type and agent per sensor: one
    statement for all of them (arrays unnested), not one round trip per sensor."""
    if not updates:
        return
    rows = sorted(updates, key=lambda u: u.sensor_id)  # two writers lock in one order
    conn.execute(
        sa.text(
            f"INSERT INTO sensors ({_SENSOR}) SELECT * FROM unnest("
            "CAST(:sid AS text[]), CAST(:st AS text[]), CAST(:a AS text[]), "
            "CAST(:f AS float8[]), CAST(:l AS float8[]), CAST(:at AS float8[]), "
            "CAST(:n AS bigint[]), CAST(:an AS bigint[])) "
            "ON CONFLICT (sensor_id) DO UPDATE SET "
            "sensor_type = CASE WHEN excluded.last_ts >= sensors.last_ts "
            "THEN excluded.sensor_type ELSE sensors.sensor_type END, "
            "agent_id = CASE WHEN excluded.last_ts >= sensors.last_ts "
            "THEN excluded.agent_id ELSE sensors.agent_id END, "
            "first_ts = LEAST(sensors.first_ts, excluded.first_ts), "
            "last_ts = GREATEST(sensors.last_ts, excluded.last_ts), "
            "last_stored_at = GREATEST(sensors.last_stored_at, excluded.last_stored_at), "
            "readings = sensors.readings + excluded.readings, "
            "anomalies = sensors.anomalies + excluded.anomalies"
        ),
        {
            "sid": [u.sensor_id for u in rows],
            "st": [u.sensor_type for u in rows],
            "a": [u.agent_id for u in rows],
            "f": [u.first_ts for u in rows],
            "l": [u.last_ts for u in rows],
            "at": [u.last_stored_at for u in rows],
            "n": [u.readings for u in rows],
            "an": [u.anomalies for u in rows],
        },
    )


def _sensor(row: Sequence[Any]) -> SensorActivity:
    sid, stype, agent, first, last, at, n, anomalies = row
    return SensorActivity(
        sid, stype, agent, float(first), float(last), float(at), int(n), int(anomalies)
    )


def sensors(conn: Connection) -> list[SensorActivity]:
    rows = conn.execute(sa.text(f"SELECT {_SENSOR} FROM sensors ORDER BY sensor_id"))
    return [_sensor(r) for r in rows]


def sensor(conn: Connection, sensor_id: str) -> SensorActivity | None:
    row = conn.execute(
        sa.text(f"SELECT {_SENSOR} FROM sensors WHERE sensor_id = :s"), {"s": sensor_id}
    ).first()
    return None if row is None else _sensor(row)
