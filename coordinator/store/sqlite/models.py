"""The model registry, signing keys and rollouts on SQLite (``store.contract.ModelStore``)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store.model_records import (
    Evaluation,
    ModelRecord,
    ModelStatus,
    NewModel,
    Rollout,
    RolloutEvent,
    SigningKeyRecord,
    TrainingInfo,
    TrainingQuery,
    TrainingRows,
)
from edgewatch.shared.readings import ReadingBatch

_MODEL = (
    "id, sensor_type, tier, version, sha256, size, created_at, status, status_at, training, "
    "evaluation, key_id, signature"
)
_ROLLOUT = (
    "id, model_id, sensor_type, tier, state, canary_spec, canary, shadow, baseline_model_id, "
    "started_at, soak_started_at, finished_at, completed_at, reason"
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _model(row: sqlite3.Row) -> ModelRecord:
    training = orjson.loads(row["training"])
    training["agents"] = tuple(training["agents"])
    evaluation = orjson.loads(row["evaluation"])
    if evaluation is not None:
        evaluation["score_quantiles"] = tuple(evaluation["score_quantiles"])
    return ModelRecord(
        id=int(row["id"]),
        sensor_type=row["sensor_type"],
        tier=row["tier"],
        version=int(row["version"]),
        sha256=row["sha256"],
        size=int(row["size"]),
        created_at=float(row["created_at"]),
        status=row["status"],
        status_at=float(row["status_at"]),
        training=TrainingInfo(**training),
        evaluation=None if evaluation is None else Evaluation(**evaluation),
        key_id=row["key_id"],
        signature=row["signature"],
    )


def add_model(cur: sqlite3.Cursor, m: NewModel) -> int:
    evaluation = None if m.evaluation is None else dataclasses.asdict(m.evaluation)
    cur.execute(
        "INSERT INTO models (sensor_type, tier, version, sha256, size, created_at, status, "
        "status_at, training, evaluation, key_id, signature, data) "
        "VALUES (?, ?, ?, ?, ?, ?, 'candidate', ?, ?, ?, ?, ?, ?)",
        (
            m.sensor_type,
            m.tier,
            m.version,
            m.sha256,
            len(m.data),
            m.created_at,
            m.created_at,
            _json(dataclasses.asdict(m.training)),
            _json(evaluation),
            m.key_id,
            m.signature,
            m.data,
        ),
    )
    return int(cur.lastrowid or 0)


def models(conn: sqlite3.Connection, sensor_type: str | None) -> list[ModelRecord]:
    where, params = ("WHERE sensor_type = ?", (sensor_type,)) if sensor_type else ("", ())
    rows = conn.execute(f"SELECT {_MODEL} FROM models {where} ORDER BY id", params)
    return [_model(r) for r in rows]


def model(conn: sqlite3.Connection, model_id: int) -> ModelRecord | None:
    row = conn.execute(f"SELECT {_MODEL} FROM models WHERE id = ?", (model_id,)).fetchone()
    return None if row is None else _model(row)


def model_file(conn: sqlite3.Connection, model_id: int) -> bytes | None:
    row = conn.execute("SELECT data FROM models WHERE id = ?", (model_id,)).fetchone()
    return None if row is None else bytes(row[0])


def latest_version(conn: sqlite3.Connection, sensor_type: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM models WHERE sensor_type = ?", (sensor_type,)
    ).fetchone()
    return int(row[0])


def set_statuses(cur: sqlite3.Cursor, statuses: Mapping[int, ModelStatus], at: float) -> None:
    cur.executemany(
        "UPDATE models SET status = ?, status_at = ? WHERE id = ? AND status != ?",
        [(s, at, i, s) for i, s in statuses.items()],
    )


def resign(cur: sqlite3.Cursor, signatures: Mapping[int, tuple[str, str]]) -> None:
    cur.executemany(
        "UPDATE models SET key_id = ?, signature = ? WHERE id = ?",
        [(k, s, i) for i, (k, s) in signatures.items()],
    )


def delete_models(cur: sqlite3.Cursor, ids: Sequence[int]) -> None:
    cur.executemany("DELETE FROM models WHERE id = ? AND status = 'candidate'", [(i,) for i in ids])


def signing_keys(conn: sqlite3.Connection) -> list[SigningKeyRecord]:
    rows = conn.execute(
        "SELECT key_id, public_key, created_at, endorsed_by, endorsement FROM signing_keys "
        "ORDER BY seq"
    )
    return [SigningKeyRecord(r[0], r[1], float(r[2]), r[3], r[4]) for r in rows]


def add_signing_key(cur: sqlite3.Cursor, key: SigningKeyRecord) -> None:
    # An unendorsed key is the chain's root: only the first may be one (two replicas
    # starting together on an empty store must not both plant theirs).
    if key.endorsed_by is None and cur.execute("SELECT 1 FROM signing_keys LIMIT 1").fetchone():
        raise WriteRefused(f"signing key {key.key_id}: the store already has its first key")
    cur.execute(
        "INSERT INTO signing_keys (key_id, seq, public_key, created_at, endorsed_by, endorsement) "
        "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys), ?, ?, ?, ?)",
        (key.key_id, key.public_key, key.created_at, key.endorsed_by, key.endorsement),
    )


def _rollout(row: sqlite3.Row) -> Rollout:
    return Rollout(
        id=int(row["id"]),
        model_id=int(row["model_id"]),
        sensor_type=row["sensor_type"],
        tier=row["tier"],
        state=row["state"],
        canary_spec=row["canary_spec"],
        canary=tuple(orjson.loads(row["canary"])),
        shadow=bool(row["shadow"]),
        baseline_model_id=row["baseline_model_id"],
        started_at=float(row["started_at"]),
        soak_started_at=row["soak_started_at"],
        finished_at=row["finished_at"],
        completed_at=row["completed_at"],
        reason=row["reason"],
    )


def save_rollout(cur: sqlite3.Cursor, r: Rollout) -> int:
    values = (
        r.model_id,
        r.sensor_type,
        r.tier,
        r.state,
        r.canary_spec,
        _json(list(r.canary)),
        int(r.shadow),
        r.baseline_model_id,
        r.started_at,
        r.soak_started_at,
        r.finished_at,
        r.completed_at,
        r.reason,
    )
    if r.id == 0:
        cur.execute(
            f"INSERT INTO rollouts ({_ROLLOUT.removeprefix('id, ')}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return int(cur.lastrowid or 0)
    columns = _ROLLOUT.removeprefix("id, ").split(", ")
    cur.execute(
        f"UPDATE rollouts SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
        (*values, r.id),
    )
    return r.id


def rollouts(conn: sqlite3.Connection, limit: int) -> list[Rollout]:
    rows = conn.execute(f"SELECT {_ROLLOUT} FROM rollouts ORDER BY id DESC LIMIT ?", (limit,))
    return [_rollout(r) for r in rows]


def rollout(conn: sqlite3.Connection, rollout_id: int) -> Rollout | None:
    row = conn.execute(f"SELECT {_ROLLOUT} FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
    return None if row is None else _rollout(row)


def add_events(cur: sqlite3.Cursor, rollout_id: int, events: Sequence[RolloutEvent]) -> None:
    cur.executemany(
        "INSERT INTO rollout_events (rollout_id, at, kind, reason, figures) VALUES (?, ?, ?, ?, ?)",
        [(rollout_id or e.rollout_id, e.at, e.kind, e.reason, _json(e.figures)) for e in events],
    )


def rollout_events(
    conn: sqlite3.Connection, after: int, limit: int, rollout_id: int | None
) -> list[RolloutEvent]:
    where = "WHERE id > ?" + (" AND rollout_id = ?" if rollout_id is not None else "")
    params: tuple[Any, ...] = (after,) if rollout_id is None else (after, rollout_id)
    rows = conn.execute(
        f"SELECT id, rollout_id, at, kind, reason, figures FROM rollout_events {where} "
        "ORDER BY id LIMIT ?",
        (*params, limit),
    )
    return [
        RolloutEvent(int(r[1]), float(r[2]), r[3], r[4], orjson.loads(r[5]), int(r[0]))
        for r in rows
    ]


def training_rows(conn: sqlite3.Connection, q: TrainingQuery) -> TrainingRows:
    """The newest ``q.limit`` readings of the type in the window, returned oldest first."""
    clauses, params = ["r.sensor_type = ?", "r.ts >= ?"], [q.sensor_type, q.since]
    if q.until is not None:
        clauses.append("r.ts < ?")
        params.append(q.until)
    rows = conn.execute(
        "SELECT r.agent_id, r.sensor_id, r.ts, r.metrics, r.status, r.label, r.anomaly, "
        "c.anomaly FROM readings r LEFT JOIN cloud_verdicts c ON c.agent_id = r.agent_id "
        "AND c.epoch = r.epoch AND c.seq = r.seq "
        f"WHERE {' AND '.join(clauses)} ORDER BY r.ts DESC LIMIT ?",
        (*params, q.limit),
    ).fetchall()
    rows.reverse()
    n = len(rows)
    metrics: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for i, row in enumerate(rows):
        for name, value in orjson.loads(row[3]).items():
            column = metrics.get(name)
            if column is None:
                column = metrics[name] = np.full(n, np.nan)
            column[i] = value
    batch = ReadingBatch(
        sensor_id=[r[1] for r in rows],
        sensor_type=[q.sensor_type] * n,
        ts=np.array([r[2] for r in rows], dtype=np.float64),
        metrics=metrics,
        status=[r[4] for r in rows],
        label=[r[5] for r in rows],
    )
    return TrainingRows(
        batch=batch,
        agent_id=[r[0] for r in rows],
        anomaly=np.array([bool(r[6]) for r in rows], dtype=np.bool_),
        cloud_anomaly=np.array([bool(r[7]) for r in rows], dtype=np.bool_),
    )
