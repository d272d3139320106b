"""Conversions between wire/domain objects and SQLite rows (both directions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import orjson

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.shared.schemas import ModelRef, Result, ResultBatch

READING_COLUMNS = (
    "agent_id, epoch, seq, sensor_id, sensor_type, ts, metrics, status, label, "
    "score, anomaly, confidence, scorer, stored_at"
)
# What ingest writes: the reading, plus the feed entry of the batch that stored it.
INSERT_COLUMNS = READING_COLUMNS + ", feed_id"
AGENT_COLUMNS = (
    "id, tier, latitude, longitude, version, epoch, first_seen, last_seen, "
    "heartbeat, heartbeat_at, state, models, capacity, capabilities"
)


def metrics_json(batch: ResultBatch) -> Iterator[str]:
    """One JSON object per reading, absent (null) metrics omitted."""
    names = list(batch.metrics)
    columns = [batch.metrics[n] for n in names]
    for values in zip(*columns, strict=True):
        row = {n: v for n, v in zip(names, values, strict=True) if v is not None}
        yield orjson.dumps(row).decode()


def batch_rows(batch: ResultBatch, stored_at: float, feed_id: int) -> Iterator[tuple[Any, ...]]:
    """The rows of ``batch`` in ``INSERT_COLUMNS`` order; reading i gets first_seq + i."""
    n = batch.size
    return zip(
        repeat(batch.agent_id, n),
        repeat(batch.epoch, n),
        range(batch.first_seq, batch.first_seq + n),
        batch.sensor_id,
        batch.sensor_type,
        batch.ts,
        metrics_json(batch),
        batch.status,
        batch.label,
        batch.score,
        batch.anomaly,
        batch.confidence,
        batch.scorer,
        repeat(stored_at, n),
        repeat(feed_id, n),
        strict=True,
    )


def reading_json(batch: ResultBatch, i: int) -> str:
    """Reading ``i`` of ``batch`` as one JSON object (a conflict's quarantined copy)."""
    return orjson.dumps(
        {
            "agent_id": batch.agent_id,
            "epoch": batch.epoch,
            "seq": batch.first_seq + i,
            "sensor_id": batch.sensor_id[i],
            "sensor_type": batch.sensor_type[i],
            "ts": batch.ts[i],
            "metrics": {m: v[i] for m, v in batch.metrics.items() if v[i] is not None},
            "status": batch.status[i],
            "label": batch.label[i],
            "score": batch.score[i],
            "anomaly": batch.anomaly[i],
            "confidence": batch.confidence[i],
            "scorer": batch.scorer[i],
        }
    ).decode()


def result_of(row: sqlite3.Row) -> Result:
    """A stored row as the wire ``Result`` (values were validated when they came in)."""
    return Result.model_construct(
        agent_id=row["agent_id"],
        epoch=row["epoch"],
        seq=row["seq"],
        sensor_id=row["sensor_id"],
        sensor_type=row["sensor_type"],
        ts=row["ts"],
        metrics=orjson.loads(row["metrics"]),
        status=row["status"],
        label=row["label"],
        score=row["score"],
        anomaly=bool(row["anomaly"]),
        confidence=row["confidence"],
        scorer=row["scorer"],
    )


def agent_row(rec: AgentRecord) -> tuple[Any, ...]:
    heartbeat = None if rec.heartbeat is None else orjson.dumps(rec.heartbeat).decode()
    return (
        rec.id,
        rec.tier,
        rec.latitude,
        rec.longitude,
        rec.version,
        rec.epoch,
        rec.first_seen,
        rec.last_seen,
        heartbeat,
        rec.heartbeat_at,
        rec.state,
        orjson.dumps({t: m.model_dump() for t, m in rec.models.items()}).decode(),
        rec.capacity,
        orjson.dumps(list(rec.capabilities)).decode(),
    )


def _models(stored: dict[str, Any]) -> dict[str, ModelRef]:
    # Rows written before schema 2 held free text per type: those are not models we know.
    return {t: ModelRef(**m) for t, m in stored.items() if isinstance(m, dict)}


def agent_of(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        tier=row["tier"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        version=row["version"],
        epoch=row["epoch"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        heartbeat=None if row["heartbeat"] is None else orjson.loads(row["heartbeat"]),
        heartbeat_at=row["heartbeat_at"],
        state=row["state"],
        models=_models(orjson.loads(row["models"])),
        capacity=row["capacity"],
        capabilities=tuple(orjson.loads(row["capabilities"])),
    )
