"""Aggregates on PostgreSQL: the readings of feed entries in columns, window rows merged
in Python inside the write transaction, as ``store.sqlite.aggregates`` does.

SQLite has one writer; here the consumer, a rebuild (``edgewatch aggregates rebuild``),
retention and other replicas' consumers run at once, so what the single writer made
safe is made explicit:

- the consumer's watermark moves by **compare-and-set** (``claim``): an ``UPDATE ...
  WHERE position = after``, which waits for a concurrent holder of the row and then
  re-checks the condition on the committed value, so exactly one of two appliers of the
  same page wins and the other writes nothing;
- the watermark row is locked **before** any window, and windows in key order (``FOR
  UPDATE`` under ``ORDER BY``), by the consumer, the rebuild and retention alike: they
  wait for each other instead of deadlocking;
- a rebuild holds the watermark row while it recomputes (``hold``), so the consumer
  cannot move in between, as SQLite's write lock guaranteed.

Retention lives in ``retention`` (readings go by whole days there, not by feed entry).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.aggregates.compute import Columns, Contribution, WindowKey
from edgewatch.coordinator.aggregates.records import (
    AggregateQuery,
    Expired,
    Retention,
    WindowAggregate,
)
from edgewatch.coordinator.store.postgres import feed, retention
from edgewatch.coordinator.store.postgres.concern import PgConcern
from edgewatch.coordinator.store.records import FeedEntry
from edgewatch.coordinator.store.sqlite.aggregates import (
    _ROW,
    _light,
    _stats_json,
    _window,
    columns_of,
    merged_rows,
)

_COLS = "r.sensor_id, r.sensor_type, r.agent_id, r.status, r.ts, r.stored_at, r.anomaly, r.metrics"
# The readings of the entries at positions :ps, in the order given (as SQLite's loop over
# entries), each entry's in seq order: the feed's join (``feed._JOIN``) behind an unnest.
_OF_ENTRIES = (
    "FROM unnest(CAST(:ps AS bigint[])) WITH ORDINALITY AS e (position, n) "
    "JOIN ingest_feed f ON f.position = e.position "
    "JOIN reading_keys k ON k.agent_id = f.agent_id AND k.epoch = f.epoch "
    "AND k.seq BETWEEN f.first_seq AND f.last_seq AND k.batch_id = f.batch_id "
    "JOIN readings r ON r.ts = k.ts AND r.agent_id = k.agent_id AND r.epoch = k.epoch "
    "AND r.seq = k.seq"
)
_KEYS = (
    "SELECT * FROM unnest(CAST(:scope AS text[]), CAST(:size AS integer[]), "
    "CAST(:start AS bigint[]))"
)
_UPSERT = (
    f"INSERT INTO aggregates ({_ROW}) SELECT * FROM unnest("
    "CAST(:scope AS text[]), CAST(:size AS integer[]), CAST(:start AS bigint[]), "
    "CAST(:count AS bigint[]), CAST(:anomalies AS bigint[]), CAST(:statuses AS text[]), "
    "CAST(:latency AS text[]), CAST(:metrics AS text[]), CAST(:revisions AS integer[]), "
    "CAST(:created AS float8[]), CAST(:updated AS float8[]), CAST(:revised AS float8[])) "
    "AS u (scope, window_s, start) ORDER BY 1, 2, 3 "
    "ON CONFLICT (scope, window_s, start) DO UPDATE SET count = excluded.count, "
    "anomalies = excluded.anomalies, statuses = excluded.statuses, latency = excluded.latency, "
    "metrics = excluded.metrics, revisions = excluded.revisions, "
    "updated_at = excluded.updated_at, revised_at = excluded.revised_at"
)
# _UPSERT's arrays, in the order of _ROW.
_PARAMS = (
    *("scope", "size", "start", "count", "anomalies", "statuses", "latency", "metrics"),
    *("revisions", "created", "updated", "revised"),
)
Row = tuple[Any, ...]


# -- reading the feed ------------------------------------------------------------------------


def feed_columns(conn: Connection, entries: Sequence[FeedEntry]) -> Columns:
    """The readings ``entries`` stored: one query for the whole page."""
    if not entries:
        return columns_of([])
    rows = conn.execute(
        sa.text(f"SELECT {_COLS} {_OF_ENTRIES} ORDER BY e.n, r.seq"),
        {"ps": [e.position for e in entries]},
    )
    return columns_of([tuple(r) for r in rows])


def span_columns(conn: Connection, since: float, until: float, position: int) -> Columns:
    """Readings with ``since <= ts < until`` the consumer has applied up to ``position``.

    SQLite asks for a feed id at most ``position``; here a reading's entry may be gone
    already (retention deletes entries before their day's readings, see ``retention``),
    and only entries past every watermark are ever deleted. So: every reading except
    those of entries still listed past ``position``.
    """
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLS} FROM readings r JOIN reading_keys k ON k.ts = r.ts "
            "AND k.agent_id = r.agent_id AND k.epoch = r.epoch AND k.seq = r.seq "
            "WHERE r.ts >= :a AND r.ts < :b AND k.ts >= :a AND k.ts < :b "
            "AND NOT EXISTS (SELECT 1 FROM ingest_feed f "
            "WHERE f.batch_id = k.batch_id AND f.position > :p) "
            "ORDER BY r.ts, r.agent_id, r.epoch, r.seq"
        ),
        {"a": since, "b": until, "p": position},
    )
    return columns_of([tuple(r) for r in rows])


# -- the watermark, compared and set -----------------------------------------------------------


def hold(conn: Connection, consumer: str, now: float) -> int:
    """``consumer``'s watermark, its row locked until the commit (made at 0 if missing,
    so that a consumer that never ran waits too)."""
    conn.execute(
        sa.text(
            "INSERT INTO watermarks (consumer, position, updated_at) VALUES (:c, 0, :t) "
            "ON CONFLICT (consumer) DO NOTHING"
        ),
        {"c": consumer, "t": now},
    )
    row = conn.execute(
        sa.text("SELECT position FROM watermarks WHERE consumer = :c FOR UPDATE"),
        {"c": consumer},
    ).first()
    return 0 if row is None else int(row[0])


# -- windows -----------------------------------------------------------------------------------


def _key_arrays(keys: Sequence[WindowKey]) -> dict[str, list[Any]]:
    return {
        "scope": [k[0] for k in keys],
        "size": [k[1] for k in keys],
        "start": [k[2] for k in keys],
    }


def _locked(conn: Connection, keys: Sequence[WindowKey]) -> dict[WindowKey, WindowAggregate]:
    """The stored windows among ``keys``, locked in key order: one query for all."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.text(
            f"SELECT {_ROW} FROM aggregates WHERE (scope, window_s, start) IN ({_KEYS}) "
            "ORDER BY scope, window_s, start FOR UPDATE"
        ),
        _key_arrays(keys),
    )
    found = {}
    for row in rows:
        w = _window(row)
        found[(w.scope, w.size_s, w.start)] = w
    return found


def _upsert(conn: Connection, rows: Sequence[Row]) -> None:
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    conn.execute(sa.text(_UPSERT), {n: list(c) for n, c in zip(_PARAMS, columns, strict=True)})


def merge_windows(conn: Connection, updates: Mapping[WindowKey, Contribution], now: float) -> int:
    """Merge ``updates`` into the stored windows (locked first, in key order)."""
    rows = merged_rows(_locked(conn, sorted(updates)), updates, now)
    _upsert(conn, rows)
    return len(rows)


def replace_span(
    conn: Connection,
    since: int,
    until: int,
    updates: Mapping[WindowKey, Contribution],
    now: float,
) -> int:
    """Replace every window starting in ``[since, until)`` by ``updates`` (a rebuild);
    revision counts and creation times of windows that existed are kept."""
    span = {"a": since, "b": until}
    rows_before = conn.execute(
        sa.text(
            f"SELECT {_ROW} FROM aggregates WHERE start >= :a AND start < :b "
            "ORDER BY scope, window_s, start FOR UPDATE"
        ),
        span,
    )
    old = {(w.scope, w.size_s, w.start): w for w in map(_window, rows_before)}
    conn.execute(sa.text("DELETE FROM aggregates WHERE start >= :a AND start < :b"), span)
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
    _upsert(conn, rows)
    return len(rows)


def windows(conn: Connection, q: AggregateQuery) -> list[WindowAggregate]:
    where: list[str] = ["window_s = :size"]
    params: dict[str, object] = {"size": q.size_s, "n": q.limit}
    if q.scope is not None:
        where.append("scope = :scope")
        params["scope"] = q.scope
    elif q.scope_kind is not None:
        if q.scope_kind == "fleet":
            where.append("scope = 'fleet'")
        else:
            # Byte order (COLLATE "C"): ';' sorts right after ':', as in SQLite.
            where.append("scope >= :low AND scope < :high")
            params |= {"low": f"{q.scope_kind}:", "high": f"{q.scope_kind};"}
    if q.since is not None:
        where.append("start >= :since")
        params["since"] = q.since
    if q.until is not None:
        where.append("start < :until")
        params["until"] = q.until
    clause = " AND ".join(where)
    if q.light:
        sql = (
            "SELECT scope, window_s, start, count, anomalies, latency, revisions, created_at, "
            f"updated_at, revised_at FROM aggregates WHERE {clause} "
            "ORDER BY scope, start LIMIT :n"
        )
        return [_light(r) for r in conn.execute(sa.text(sql), params)]
    sql = f"SELECT {_ROW} FROM aggregates WHERE {clause} ORDER BY scope, start LIMIT :n"
    return [_window(r) for r in conn.execute(sa.text(sql), params)]


# -- the store's methods -------------------------------------------------------------------------


class PgAggregates(PgConcern):
    """``AggregateStore`` on PostgreSQL (mixed into ``PostgresStore``)."""

    def feed_columns(self, entries: Sequence[FeedEntry]) -> Columns:
        return self._read(lambda c: feed_columns(c, entries))

    def apply_aggregates(
        self, updates: Mapping[WindowKey, Contribution], consumer: str, after: int, position: int
    ) -> bool:
        now = time.time()
        with self._transaction() as conn:
            if not feed.claim(conn, consumer, after, position, now):
                return False
            merge_windows(conn, updates, now)
        return True

    def rebuild_aggregates(
        self,
        since: int,
        until: int,
        compute: Callable[[Columns], Mapping[WindowKey, Contribution]],
        consumer: str,
    ) -> int:
        # The watermark row is held while the span is recomputed: the consumer cannot
        # move in between, so the span holds exactly the readings up to its watermark.
        with self._transaction("rebuild") as conn:
            position = hold(conn, consumer, time.time())
            cols = span_columns(conn, since, until, position)
            replace_span(conn, since, until, compute(cols), time.time())
        return len(cols)

    def aggregates(self, query: AggregateQuery) -> list[WindowAggregate]:
        return self._read(lambda c: windows(c, query))

    def expire(self, now: float, policy: Retention, consumers: Sequence[str]) -> Expired:
        with self._transaction("retention") as conn:
            gone = retention.expire_windows(conn, now, policy)
            if policy.raw_s is None:
                return Expired(gone, 0, 0)
            cutoff = now - policy.raw_s
            entries = retention.expire_entries(conn, cutoff, consumers, policy.batch_entries)
        if entries >= policy.batch_entries:
            # More entries to go: the duty calls again at once; days are looked at once
            # the feed is trimmed as far as it goes (each look reads the day's keys).
            return Expired(gone, 0, entries)
        readings = 0
        for day in self._read(lambda c: retention.candidate_days(c, cutoff)):
            with self._transaction("retention") as conn:
                readings += retention.empty_day(conn, day)
        return Expired(gone, readings, entries)
