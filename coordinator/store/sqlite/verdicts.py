"""Cloud verdicts and verdict figures on SQLite (``store.contract.VerdictStore``).

``verdict_buckets`` holds per 10-second bucket, agent, type and edge scorer what the
re-scoring consumer counted (the quality gate sums the buckets of a soak period);
``verdict_totals`` the same since the beginning (the agreement the API shows). Buckets
older than the retention are pruned by the consumer's own transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from edgewatch.coordinator.store.model_records import (
    RANK_BINS,
    CloudVerdict,
    ScoredRows,
    VerdictCounts,
)
from edgewatch.coordinator.store.records import FeedEntry
from edgewatch.shared.readings import ReadingBatch

_RANKS = ", ".join(f"r{i}" for i in range(RANK_BINS))
_COUNTS = "readings, anomalies, rescored, agreed, cloud_anomalies"


def feed_scored(
    conn: sqlite3.Connection, entry: FeedEntry, types: frozenset[str] | None
) -> ScoredRows:
    # Metrics of readings nobody will score are not even read (most of a row's bytes;
    # with no cloud model at all, the consumer only counts verdicts).
    wanted = sorted(types or ())
    metrics_col = (
        "metrics"
        if types is None
        else f"CASE WHEN sensor_type IN ({', '.join('?' * len(wanted))}) THEN metrics END"
        if wanted
        else "NULL"
    )
    rows = conn.execute(
        f"SELECT seq, sensor_id, sensor_type, ts, {metrics_col}, status, label, score, anomaly, "
        "scorer FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ? "
        "AND feed_id = ? ORDER BY seq",
        (
            *wanted,
            entry.agent_id,
            entry.epoch,
            entry.first_seq,
            entry.last_seq,
            entry.position,
        ),
    ).fetchall()
    if not rows:
        return ScoredRows.empty(entry.agent_id, entry.epoch)
    n = len(rows)
    metrics: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for i, row in enumerate(rows):
        if row[4] is None:
            continue  # nobody will score it: its metrics were not read
        for name, value in orjson.loads(row[4]).items():
            column = metrics.get(name)
            if column is None:
                column = metrics[name] = np.full(n, np.nan)
            column[i] = value
    return scored_rows(entry, rows, metrics)


def scored_rows(
    entry: FeedEntry,
    rows: Sequence[Sequence[Any]],
    metrics: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
) -> ScoredRows:
    """``ScoredRows`` of an entry's rows (seq, sensor_id, sensor_type, ts, metrics, status,
    label, score, anomaly, scorer: the columns both stores select), metrics in columns."""
    batch = ReadingBatch(
        sensor_id=[r[1] for r in rows],
        sensor_type=[r[2] for r in rows],
        ts=np.array([r[3] for r in rows], dtype=np.float64),
        metrics=metrics,
        status=[r[5] for r in rows],
        label=[r[6] for r in rows],
    )
    return ScoredRows(
        agent_id=entry.agent_id,
        epoch=entry.epoch,
        seq=[int(r[0]) for r in rows],
        batch=batch,
        score=np.array([np.nan if r[7] is None else r[7] for r in rows], dtype=np.float64),
        anomaly=np.array([bool(r[8]) for r in rows], dtype=np.bool_),
        scorer=[r[9] for r in rows],
    )


def add_cloud_verdicts(cur: sqlite3.Cursor, verdicts: Sequence[CloudVerdict]) -> None:
    cur.executemany(
        "INSERT INTO cloud_verdicts (agent_id, epoch, seq, score, anomaly, scorer, why, "
        "rescored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (v.agent_id, v.epoch, v.seq, v.score, int(v.anomaly), v.scorer, v.why, v.rescored_at)
            for v in verdicts
        ],
    )


def add_counts(cur: sqlite3.Cursor, counts: Sequence[VerdictCounts]) -> None:
    marks = ", ".join("?" * (4 + 5 + RANK_BINS))
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in (_COUNTS + ", " + _RANKS).split(", "))
    cur.executemany(
        f"INSERT INTO verdict_buckets (bucket, agent_id, sensor_type, scorer, {_COUNTS}, "
        f"{_RANKS}) VALUES ({marks}) ON CONFLICT (bucket, agent_id, sensor_type, scorer) "
        f"DO UPDATE SET {add}",
        [(c.bucket, *c.key, *_values(c)) for c in counts],
    )
    totals = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNTS.split(", "))
    cur.executemany(
        f"INSERT INTO verdict_totals (agent_id, sensor_type, scorer, {_COUNTS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, sensor_type, scorer) "
        f"DO UPDATE SET {totals}",
        [(*c.key, *_values(c)[:5]) for c in counts],
    )


def _values(c: VerdictCounts) -> tuple[int, ...]:
    return (c.readings, c.anomalies, c.rescored, c.agreed, c.cloud_anomalies, *c.ranks)


def prune_buckets(cur: sqlite3.Cursor, before: float) -> None:
    cur.execute("DELETE FROM verdict_buckets WHERE bucket < ?", (before,))


def verdict_window(conn: sqlite3.Connection, since: float) -> list[VerdictCounts]:
    sums = ", ".join(f"SUM({c})" for c in (_COUNTS + ", " + _RANKS).split(", "))
    rows = conn.execute(
        f"SELECT agent_id, sensor_type, scorer, {sums} FROM verdict_buckets WHERE bucket >= ? "
        "GROUP BY agent_id, sensor_type, scorer ORDER BY agent_id, sensor_type, scorer",
        (since,),
    )
    return [_counts(r, tuple(int(x) for x in r[8:]), since) for r in rows]


def verdict_totals(conn: sqlite3.Connection) -> list[VerdictCounts]:
    rows = conn.execute(
        f"SELECT agent_id, sensor_type, scorer, {_COUNTS} FROM verdict_totals "
        "ORDER BY agent_id, sensor_type, scorer"
    )
    return [_counts(r, (0,) * RANK_BINS, 0.0) for r in rows]


def _counts(r: Sequence[Any], ranks: tuple[int, ...], bucket: float) -> VerdictCounts:
    return VerdictCounts(
        agent_id=r[0],
        sensor_type=r[1],
        scorer=r[2],
        readings=int(r[3]),
        anomalies=int(r[4]),
        rescored=int(r[5]),
        agreed=int(r[6]),
        cloud_anomalies=int(r[7]),
        ranks=ranks,
        bucket=bucket,
    )


def cloud_verdicts(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, int, int]]
) -> dict[tuple[str, int, int], CloudVerdict]:
    found: dict[tuple[str, int, int], CloudVerdict] = {}
    by_run: dict[tuple[str, int], list[int]] = {}
    for agent_id, epoch, seq in keys:
        by_run.setdefault((agent_id, epoch), []).append(seq)
    for (agent_id, epoch), seqs in by_run.items():
        rows = conn.execute(
            "SELECT seq, score, anomaly, scorer, why, rescored_at FROM cloud_verdicts "
            "WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ?",
            (agent_id, epoch, min(seqs), max(seqs)),
        )
        wanted = set(seqs)
        for seq, score, anomaly, scorer, why, at in rows:
            if seq in wanted:
                key = (agent_id, epoch, int(seq))
                found[key] = CloudVerdict(*key, score, bool(anomaly), scorer, why, float(at))
    return found
