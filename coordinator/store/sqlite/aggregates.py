"""Aggregates on SQLite: the readings of feed entries in columns, window rows merged in
Python inside the write transaction, retention by feed entry (the primary key's range)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from edgewatch.coordinator.aggregates.compute import Columns, Contribution, WindowKey
from edgewatch.coordinator.aggregates.records import (
    AggregateQuery,
    Expired,
    Retention,
    WindowAggregate,
)
from edgewatch.coordinator.aggregates.stats import MetricStats, WindowStats
from edgewatch.coordinator.store.records import FeedEntry

_COLS = "sensor_id, sensor_type, agent_id, status, ts, stored_at, anomaly, metrics"
_ROW = (
    "scope, window_s, start, count, anomalies, statuses, latency, metrics, revisions, "
    "created_at, updated_at, revised_at"
)
_UPSERT = (
    f"INSERT INTO aggregates ({_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, window_s, start) DO UPDATE SET count = excluded.count, "
    "anomalies = excluded.anomalies, statuses = excluded.statuses, latency = excluded.latency, "
    "metrics = excluded.metrics, revisions = excluded.revisions, "
    "updated_at = excluded.updated_at, revised_at = excluded.revised_at"
)


def columns_of(rows: Sequence[tuple[Any, ...]]) -> Columns:
    if not rows:
        empty = np.empty(0)
        return Columns([], [], [], [], empty, empty, np.empty(0, dtype=np.bool_))
    sid, stype, agent, status, ts, stored, anomaly, metrics = zip(*rows, strict=True)
    parsed = [orjson.loads(m) for m in metrics]
    names: dict[str, None] = {}
    for m in parsed:
        names.update(dict.fromkeys(m))
    nan = float("nan")
    return Columns(
        sensor_id=sid,
        sensor_type=stype,
        agent_id=agent,
        status=status,
        ts=np.asarray(ts, dtype=np.float64),
        stored_at=np.asarray(stored, dtype=np.float64),
        anomaly=np.asarray(anomaly, dtype=np.bool_),
        metrics={
            n: np.fromiter((m.get(n, nan) for m in parsed), np.float64, len(parsed)) for n in names
        },
    )


def feed_columns(conn: sqlite3.Connection, entries: Sequence[FeedEntry]) -> Columns:
    rows: list[tuple[Any, ...]] = []
    for e in entries:
        rows.extend(
            conn.execute(
                f"SELECT {_COLS} FROM readings WHERE agent_id = ? AND epoch = ? "
                "AND seq BETWEEN ? AND ? AND feed_id = ?",
                (e.agent_id, e.epoch, e.first_seq, e.last_seq, e.position),
            )
        )
    return columns_of(rows)


def span_columns(conn: sqlite3.Connection, since: float, until: float, position: int) -> Columns:
    """Readings with ``since <= ts < until`` the feed had listed up to ``position`` (and
    rows older than the feed itself)."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM readings WHERE ts >= ? AND ts < ? "
        "AND (feed_id IS NULL OR feed_id <= ?)",
        (since, until, position),
    ).fetchall()
    return columns_of(rows)


def _stats_json(stats: WindowStats) -> tuple[str, str, str]:
    return (
        orjson.dumps(dict(stats.statuses)).decode(),
        orjson.dumps(dict(stats.latency)).decode(),
        orjson.dumps({k: v.as_list() for k, v in stats.metrics.items()}).decode(),
    )


def _window(row: Sequence[Any]) -> WindowAggregate:
    scope, size, start, count, anomalies, statuses, latency, metrics, rev, created, upd, revd = row
    stats = WindowStats(
        count=int(count),
        anomalies=int(anomalies),
        statuses=orjson.loads(statuses),
        latency=orjson.loads(latency),
        metrics={k: MetricStats.from_list(v) for k, v in orjson.loads(metrics).items()},
    )
    return WindowAggregate(scope, int(size), int(start), stats, int(rev), created, upd, revd)


def _existing(cur: sqlite3.Cursor, keys: Iterable[WindowKey]) -> dict[WindowKey, WindowAggregate]:
    """The stored windows among ``keys``: one query per chunk of keys, not one per key."""
    found = {}
    wanted = list(keys)
    for i in range(0, len(wanted), 300):
        chunk = wanted[i : i + 300]
        values = ", ".join("(?, ?, ?)" for _ in chunk)
        rows = cur.execute(
            f"SELECT {_ROW} FROM aggregates WHERE (scope, window_s, start) IN (VALUES {values})",
            [v for key in chunk for v in key],
        )
        for row in rows:
            w = _window(row)
            found[(w.scope, w.size_s, w.start)] = w
    return found


def merged_rows(
    old: Mapping[WindowKey, WindowAggregate], updates: Mapping[WindowKey, Contribution], now: float
) -> list[tuple[Any, ...]]:
    """The window rows ``updates`` make of the stored ``old`` ones (both stores write
    these): a late contribution to a stored window counts a revision."""
    rows = []
    for key, c in updates.items():
        prior = old.get(key)
        stats = c.stats if prior is None else prior.stats.merge(c.stats)
        revised = prior is not None and c.late
        revisions = (prior.revisions if prior else 0) + (1 if revised else 0)
        revised_at = now if revised else (prior.revised_at if prior else None)
        created = prior.created_at if prior else now
        rows.append(
            (
                *key,
                stats.count,
                stats.anomalies,
                *_stats_json(stats),
                revisions,
                created,
                now,
                revised_at,
            )
        )
    return rows


def merge_windows(
    cur: sqlite3.Cursor, updates: Mapping[WindowKey, Contribution], now: float
) -> int:
    """Merge ``updates`` into the stored windows; a late one counts a revision."""
    rows = merged_rows(_existing(cur, updates), updates, now)
    cur.executemany(_UPSERT, rows)
    return len(rows)


def replace_span(
    cur: sqlite3.Cursor,
    since: int,
    until: int,
    updates: Mapping[WindowKey, Contribution],
    now: float,
) -> int:
    """Replace every window starting in ``[since, until)`` by ``updates`` (a rebuild);
    revision counts and creation times of windows that existed are kept."""
    old = {
        (w.scope, w.size_s, w.start): w
        for w in map(
            _window,
            cur.execute(
                f"SELECT {_ROW} FROM aggregates WHERE start >= ? AND start < ?", (since, until)
            ).fetchall(),
        )
    }
    cur.execute("DELETE FROM aggregates WHERE start >= ? AND start < ?", (since, until))
    rows = []
    for key, c in updates.items():
        prior = old.get(key)
        revisions = prior.revisions if prior else int(c.late)
        revised_at = prior.revised_at if prior else (now if c.late else None)
        created = prior.created_at if prior else now
        s = c.stats
        rows.append(
            (*key, s.count, s.anomalies, *_stats_json(s), revisions, created, now, revised_at)
        )
    cur.executemany(_UPSERT, rows)
    return len(rows)


def windows(conn: sqlite3.Connection, q: AggregateQuery) -> list[WindowAggregate]:
    where: list[str] = ["window_s = ?"]
    params: list[object] = [q.size_s]
    if q.scope is not None:
        where.append("scope = ?")
        params.append(q.scope)
    elif q.scope_kind is not None:
        if q.scope_kind == "fleet":
            where.append("scope = 'fleet'")
        else:
            where.append("scope >= ? AND scope < ?")
            params += [f"{q.scope_kind}:", f"{q.scope_kind};"]  # ';' sorts right after ':'
    if q.since is not None:
        where.append("start >= ?")
        params.append(q.since)
    if q.until is not None:
        where.append("start < ?")
        params.append(q.until)
    clause = " AND ".join(where)
    if q.light:
        sql = (
            "SELECT scope, window_s, start, count, anomalies, latency, revisions, created_at, "
            f"updated_at, revised_at FROM aggregates WHERE {clause} ORDER BY scope, start LIMIT ?"
        )
        return [_light(r) for r in conn.execute(sql, [*params, q.limit])]
    sql = f"SELECT {_ROW} FROM aggregates WHERE {clause} ORDER BY scope, start LIMIT ?"
    return [_window(r) for r in conn.execute(sql, [*params, q.limit])]


def _light(row: Sequence[Any]) -> WindowAggregate:
    scope, size, start, count, anomalies, latency, rev, created, upd, revd = row
    stats = WindowStats(count=int(count), anomalies=int(anomalies), latency=orjson.loads(latency))
    return WindowAggregate(scope, int(size), int(start), stats, int(rev), created, upd, revd)


def expire(cur: sqlite3.Cursor, now: float, policy: Retention, floor: int) -> Expired:
    """One pass of retention: old windows, then readings (and feed entries) stored more
    than ``policy.raw_s`` ago whose feed position every consumer has passed (``floor``)."""
    windows_gone = 0
    for size, keep in policy.windows.items():
        if keep is not None:
            cur.execute(
                "DELETE FROM aggregates WHERE window_s = ? AND updated_at < ?", (size, now - keep)
            )
            windows_gone += max(cur.rowcount, 0)
    if policy.raw_s is None:
        return Expired(windows_gone, 0, 0)
    old = cur.execute(
        "SELECT id, agent_id, epoch, first_seq, last_seq FROM ingest_feed "
        # Never the newest entry: the store numbers the next one from the largest id left.
        "WHERE committed_at < ? AND id <= ? AND id < (SELECT MAX(id) FROM ingest_feed) "
        "ORDER BY id LIMIT ?",
        (now - policy.raw_s, floor, policy.batch_entries),
    ).fetchall()
    readings = 0
    for fid, agent, epoch, first, last in old:
        cur.execute(
            "DELETE FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ? "
            "AND feed_id = ?",
            (agent, epoch, first, last, fid),
        )
        readings += max(cur.rowcount, 0)
        # The cloud's verdicts on them go with them (coordinator.rescoring).
        cur.execute(
            "DELETE FROM cloud_verdicts WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ?",
            (agent, epoch, first, last),
        )
    cur.executemany("DELETE FROM ingest_feed WHERE id = ?", [(r[0],) for r in old])
    return Expired(windows_gone, readings, len(old))


RebuildCompute = Callable[[Columns], Mapping[WindowKey, Contribution]]
