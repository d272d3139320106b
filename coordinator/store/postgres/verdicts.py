"""Cloud verdicts and verdict figures on PostgreSQL (``store.contract.VerdictStore``).

The same tables as ``store.sqlite.verdicts``: ``verdict_buckets`` per 10-second bucket,
agent, type and edge scorer, ``verdict_totals`` since the beginning, ``cloud_verdicts``
beside the readings' keys. What many writers need:

* a cloud verdict is kept once per reading (``ON CONFLICT DO NOTHING``): a re-scoring
  replayed after a crash, or by another replica, changes nothing;
* counts are **added** by upserts (``col = col + excluded.col``), never read, summed in
  Python and written back, so concurrent increments all land;
* rows are written in key order, so two transactions upserting the same buckets wait for
  each other instead of deadlocking; increments of one key within a call are summed
  first (one statement cannot update a row twice).

A feed entry's readings are found as ``store.postgres.feed`` finds them: the keys of its
batch, then each row in its partition by ``ts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.store.model_records import (
    RANK_BINS,
    CloudVerdict,
    ScoredRows,
    VerdictCounts,
)
from edgewatch.coordinator.store.postgres import feed
from edgewatch.coordinator.store.postgres.concern import PgConcern
from edgewatch.coordinator.store.postgres.feed import _JOIN
from edgewatch.coordinator.store.postgres.models import metric_columns
from edgewatch.coordinator.store.records import FeedEntry
from edgewatch.coordinator.store.sqlite.verdicts import scored_rows

_COUNTS = ("readings", "anomalies", "rescored", "agreed", "cloud_anomalies")
_RANKS = tuple(f"r{i}" for i in range(RANK_BINS))
_TOTAL_KEY = (("agent_id", "text"), ("sensor_type", "text"), ("scorer", "text"))
_BUCKET_KEY = (("bucket", "float8"), *_TOTAL_KEY)


def feed_scored(conn: Connection, entry: FeedEntry, types: frozenset[str] | None) -> ScoredRows:
    # Metrics of readings nobody will score are not even sent: NULL, then NaN columns.
    metrics = (
        "r.metrics"
        if types is None
        else "CASE WHEN r.sensor_type = ANY(CAST(:types AS text[])) THEN r.metrics END"
    )
    rows = conn.execute(
        sa.text(
            f"SELECT r.seq, r.sensor_id, r.sensor_type, r.ts, {metrics}, r.status, r.label, "
            f"r.score, r.anomaly, r.scorer {_JOIN} WHERE f.position = :p ORDER BY r.seq"
        ),
        {"p": entry.position, "types": sorted(types or ())},
    ).all()
    if not rows:
        return ScoredRows.empty(entry.agent_id, entry.epoch)
    return scored_rows(entry, rows, metric_columns([r[4] for r in rows]))


def add_cloud_verdicts(conn: Connection, verdicts: Sequence[CloudVerdict]) -> None:
    if not verdicts:
        return
    rows = sorted(verdicts, key=lambda v: (v.agent_id, v.epoch, v.seq))
    conn.execute(
        sa.text(
            "INSERT INTO cloud_verdicts (agent_id, epoch, seq, score, anomaly, scorer, why, "
            "rescored_at) SELECT * FROM unnest(CAST(:a AS text[]), CAST(:e AS bigint[]), "
            "CAST(:s AS bigint[]), CAST(:score AS float8[]), CAST(:anomaly AS boolean[]), "
            "CAST(:scorer AS text[]), CAST(:why AS text[]), CAST(:at AS float8[])) "
            "ON CONFLICT DO NOTHING"
        ),
        {
            "a": [v.agent_id for v in rows],
            "e": [v.epoch for v in rows],
            "s": [v.seq for v in rows],
            "score": [v.score for v in rows],
            "anomaly": [v.anomaly for v in rows],
            "scorer": [v.scorer for v in rows],
            "why": [v.why for v in rows],
            "at": [v.rescored_at for v in rows],
        },
    )


def add_counts(conn: Connection, counts: Sequence[VerdictCounts]) -> None:
    """Add ``counts`` to their buckets and to the totals."""
    if not counts:
        return
    buckets = _summed(counts, lambda c: (c.bucket, *c.key))
    _upsert(
        conn,
        "verdict_buckets",
        _BUCKET_KEY,
        _COUNTS + _RANKS,
        [(c.bucket, *c.key, *_figures(c)) for c in buckets],
    )
    totals = _summed(counts, lambda c: c.key)
    _upsert(
        conn,
        "verdict_totals",
        _TOTAL_KEY,
        _COUNTS,
        [(*c.key, *_figures(c)[: len(_COUNTS)]) for c in totals],
    )


def _figures(c: VerdictCounts) -> tuple[int, ...]:
    return (c.readings, c.anomalies, c.rescored, c.agreed, c.cloud_anomalies, *c.ranks)


def _summed(
    counts: Sequence[VerdictCounts], key: Callable[[VerdictCounts], tuple[Any, ...]]
) -> list[VerdictCounts]:
    """``counts`` summed per ``key``, in key order (the order their rows are locked in)."""
    merged: dict[tuple[Any, ...], VerdictCounts] = {}
    for c in counts:
        k = key(c)
        merged[k] = c if k not in merged else merged[k].plus(c)
    return [merged[k] for k in sorted(merged)]


def _upsert(
    conn: Connection,
    table: str,
    key: tuple[tuple[str, str], ...],
    added: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """One statement for all ``rows`` (arrays unnested): insert, or add to the stored.
    ``key``: (column, SQL type) pairs; ``added``: the BIGINT columns summed."""
    columns = [name for name, _ in key] + list(added)
    types = [sql for _, sql in key] + ["bigint"] * len(added)
    arrays = ", ".join(f"CAST(:c{i} AS {t}[])" for i, t in enumerate(types))
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in added)
    conn.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(name for name, _ in key)}) DO UPDATE SET {sums}"
        ),
        {f"c{i}": list(values) for i, values in enumerate(zip(*rows, strict=True))},
    )


def prune_buckets(conn: Connection, before: float) -> None:
    conn.execute(sa.text("DELETE FROM verdict_buckets WHERE bucket < :b"), {"b": before})


def verdict_window(conn: Connection, since: float) -> list[VerdictCounts]:
    sums = ", ".join(f"SUM({c})" for c in _COUNTS + _RANKS)
    rows = conn.execute(
        sa.text(
            f"SELECT agent_id, sensor_type, scorer, {sums} FROM verdict_buckets "
            "WHERE bucket >= :since GROUP BY agent_id, sensor_type, scorer "
            "ORDER BY agent_id, sensor_type, scorer"
        ),
        {"since": since},
    )
    return [_counts(r, tuple(int(x) for x in r[8:]), since) for r in rows]


def verdict_totals(conn: Connection) -> list[VerdictCounts]:
    rows = conn.execute(
        sa.text(
            f"SELECT agent_id, sensor_type, scorer, {', '.join(_COUNTS)} FROM verdict_totals "
            "ORDER BY agent_id, sensor_type, scorer"
        )
    )
    return [_counts(r, (0,) * RANK_BINS, 0.0) for r in rows]


def _counts(r: Sequence[Any], ranks: tuple[int, ...], bucket: float) -> VerdictCounts:
    agent_id, sensor_type, scorer, readings, anomalies, rescored, agreed, cloud = r[:8]
    return VerdictCounts(
        agent_id,
        sensor_type,
        scorer,
        int(readings),
        int(anomalies),
        int(rescored),
        int(agreed),
        int(cloud),
        ranks,
        bucket,
    )


def cloud_verdicts(
    conn: Connection, keys: Sequence[tuple[str, int, int]]
) -> dict[tuple[str, int, int], CloudVerdict]:
    """The verdicts of ``keys`` that exist: one query, a primary-key probe per key."""
    if not keys:
        return {}
    wanted = sorted(set(keys))
    rows = conn.execute(
        sa.text(
            "SELECT c.agent_id, c.epoch, c.seq, c.score, c.anomaly, c.scorer, c.why, "
            "c.rescored_at FROM unnest(CAST(:a AS text[]), CAST(:e AS bigint[]), "
            "CAST(:s AS bigint[])) AS k (agent_id, epoch, seq) JOIN cloud_verdicts c "
            # The key column's collation, not the array's: the primary key serves the probe.
            'ON c.agent_id = k.agent_id COLLATE "C" AND c.epoch = k.epoch AND c.seq = k.seq'
        ),
        {"a": [k[0] for k in wanted], "e": [k[1] for k in wanted], "s": [k[2] for k in wanted]},
    )
    found: dict[tuple[str, int, int], CloudVerdict] = {}
    for agent_id, epoch, seq, score, anomaly, scorer, why, at in rows:
        key = (agent_id, int(epoch), int(seq))
        found[key] = CloudVerdict(*key, score, bool(anomaly), scorer, why, float(at))
    return found


# -- the store's face -----------------------------------------------------------------------


class PgVerdicts(PgConcern):
    """``VerdictStore`` on ``PostgresStore``."""

    def apply_rescoring(
        self,
        verdicts: Sequence[CloudVerdict],
        counts: Sequence[VerdictCounts],
        consumer: str,
        position: int,
        prune_before: float,
        *,
        after: int | None = None,
    ) -> bool:
        now = time.time()
        with self._transaction() as conn:
            # The watermark row first (locked by the claim): of two replicas re-scoring
            # one page, the second writes nothing (its counts would be added twice).
            if after is not None and not feed.claim(conn, consumer, after, position, now):
                return False
            add_cloud_verdicts(conn, verdicts)
            add_counts(conn, counts)
            prune_buckets(conn, prune_before)
            if after is None:
                feed.set_watermark(conn, consumer, position, now)
        return True

    def feed_scored(self, entry: FeedEntry, types: frozenset[str] | None = None) -> ScoredRows:
        return self._read(lambda c: feed_scored(c, entry, types))

    def verdict_window(self, since: float) -> list[VerdictCounts]:
        return self._read(lambda c: verdict_window(c, since))

    def verdict_totals(self) -> list[VerdictCounts]:
        return self._read(verdict_totals)

    def cloud_verdicts(
        self, keys: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], CloudVerdict]:
        return self._read(lambda c: cloud_verdicts(c, keys))
