"""The model registry, signing keys, rollouts and training data on PostgreSQL
(``store.contract.ModelStore``).

The same tables and answers as ``store.sqlite.models`` (its converters turn the rows into
records, so both stores answer alike); what differs is what many replicas need:

* a (type, version) is taken once: the unique key refuses the second registration
  (``WriteRefused``), as SQLite does, whichever replica comes second;
* signing keys are numbered under a table lock, so two rotations never take one ``seq``;
* rows a transaction updates (statuses, signatures) are locked in id order, so two
  writers wait for each other instead of deadlocking.

Training data is read from the partitioned ``readings`` by ``ts`` (partition pruning,
the ``readings_ts`` index read backwards for the newest rows), then joined to
``cloud_verdicts`` by key for only the rows kept.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store.model_records import (
    ModelRecord,
    ModelStatus,
    NewModel,
    Rollout,
    RolloutEvent,
    SigningKeyRecord,
    TrainingQuery,
    TrainingRows,
)
from edgewatch.coordinator.store.postgres.concern import PgConcern
from edgewatch.coordinator.store.sqlite.models import _MODEL, _ROLLOUT, _json, _model, _rollout
from edgewatch.shared.readings import FloatArray, ReadingBatch

V = TypeVar("V")
_ROLLOUT_FIELDS = _ROLLOUT.removeprefix("id, ").split(", ")


# -- models ---------------------------------------------------------------------------------


def add_model(conn: Connection, m: NewModel) -> ModelRecord:
    evaluation = None if m.evaluation is None else dataclasses.asdict(m.evaluation)
    row = conn.execute(
        sa.text(
            "INSERT INTO models (sensor_type, tier, version, sha256, size, created_at, status, "
            "status_at, training, evaluation, key_id, signature, data) VALUES (:type, :tier, "
            ":version, :sha, :size, :at, 'candidate', :at, :training, :evaluation, :key, "
            f":signature, :data) RETURNING {_MODEL}"
        ),
        {
            "type": m.sensor_type,
            "tier": m.tier,
            "version": m.version,
            "sha": m.sha256,
            "size": len(m.data),
            "at": m.created_at,
            "training": _json(dataclasses.asdict(m.training)),
            "evaluation": _json(evaluation),
            "key": m.key_id,
            "signature": m.signature,
            "data": m.data,
        },
    ).one()
    return _model(row._mapping)  # type: ignore[arg-type]


def models(conn: Connection, sensor_type: str | None) -> list[ModelRecord]:
    where, params = ("WHERE sensor_type = :t", {"t": sensor_type}) if sensor_type else ("", {})
    rows = conn.execute(sa.text(f"SELECT {_MODEL} FROM models {where} ORDER BY id"), params)
    return [_model(r._mapping) for r in rows]  # type: ignore[arg-type]


def model(conn: Connection, model_id: int) -> ModelRecord | None:
    row = conn.execute(
        sa.text(f"SELECT {_MODEL} FROM models WHERE id = :i"), {"i": model_id}
    ).first()
    return None if row is None else _model(row._mapping)  # type: ignore[arg-type]


def model_file(conn: Connection, model_id: int) -> bytes | None:
    row = conn.execute(sa.text("SELECT data FROM models WHERE id = :i"), {"i": model_id}).first()
    return None if row is None else bytes(row[0])


def latest_version(conn: Connection, sensor_type: str) -> int:
    row = conn.execute(
        sa.text("SELECT COALESCE(MAX(version), 0) FROM models WHERE sensor_type = :t"),
        {"t": sensor_type},
    ).one()
    return int(row[0])


def set_statuses(conn: Connection, statuses: Mapping[int, ModelStatus], at: float) -> None:
    if statuses:
        conn.execute(
            sa.text(
                "UPDATE models SET status = :s, status_at = :at WHERE id = :i AND status <> :s"
            ),
            [{"s": s, "at": at, "i": i} for i, s in _by_id(statuses.items())],
        )


def resign(conn: Connection, signatures: Mapping[int, tuple[str, str]]) -> None:
    if signatures:
        conn.execute(
            sa.text("UPDATE models SET key_id = :k, signature = :s WHERE id = :i"),
            [{"k": k, "s": s, "i": i} for i, (k, s) in _by_id(signatures.items())],
        )


def delete_candidates(conn: Connection, ids: Sequence[int]) -> None:
    # Only candidates: a model that was ever rolled out stays, whoever asks.
    if ids:
        conn.execute(
            sa.text(
                "DELETE FROM models WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'candidate'"
            ),
            {"ids": sorted(set(ids))},
        )


def _by_id(items: Iterable[tuple[int, V]]) -> list[tuple[int, V]]:
    """Rows to update in id order: two writers lock them in one order (no deadlock)."""
    return sorted(items, key=lambda item: item[0])


# -- signing keys ---------------------------------------------------------------------------


def signing_keys(conn: Connection) -> list[SigningKeyRecord]:
    rows = conn.execute(
        sa.text(
            "SELECT key_id, public_key, created_at, endorsed_by, endorsement FROM signing_keys "
            "ORDER BY seq"
        )
    )
    return [SigningKeyRecord(r[0], r[1], float(r[2]), r[3], r[4]) for r in rows]


def add_signing_key(conn: Connection, key: SigningKeyRecord) -> None:
    # MAX(seq) + 1 under a lock that only other key additions wait for (readers do not):
    # two replicas rotating at once get consecutive numbers, not a unique violation.
    conn.execute(sa.text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))
    # An unendorsed key is the chain's root: only the first may be one (two replicas
    # starting together on an empty store must not both plant theirs).
    if (
        key.endorsed_by is None
        and conn.execute(sa.text("SELECT 1 FROM signing_keys LIMIT 1")).first()
    ):
        raise WriteRefused(f"signing key {key.key_id}: the store already has its first key")
    conn.execute(
        sa.text(
            "INSERT INTO signing_keys (key_id, seq, public_key, created_at, endorsed_by, "
            "endorsement) VALUES (:k, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys), "
            ":pem, :at, :by, :e)"
        ),
        {
            "k": key.key_id,
            "pem": key.public_key,
            "at": key.created_at,
            "by": key.endorsed_by,
            "e": key.endorsement,
        },
    )


# -- rollouts -------------------------------------------------------------------------------


def save_rollout(conn: Connection, r: Rollout) -> int:
    """Insert (``id`` 0) or update ``r``; its id."""
    values = {
        "model_id": r.model_id,
        "sensor_type": r.sensor_type,
        "tier": r.tier,
        "state": r.state,
        "canary_spec": r.canary_spec,
        "canary": _json(list(r.canary)),
        "shadow": r.shadow,
        "baseline_model_id": r.baseline_model_id,
        "started_at": r.started_at,
        "soak_started_at": r.soak_started_at,
        "finished_at": r.finished_at,
        "completed_at": r.completed_at,
        "reason": r.reason,
    }
    if r.id == 0:
        marks = ", ".join(f":{c}" for c in _ROLLOUT_FIELDS)
        row = conn.execute(
            sa.text(
                f"INSERT INTO rollouts ({', '.join(_ROLLOUT_FIELDS)}) VALUES ({marks}) RETURNING id"
            ),
            values,
        ).one()
        return int(row[0])
    sets = ", ".join(f"{c} = :{c}" for c in _ROLLOUT_FIELDS)
    conn.execute(sa.text(f"UPDATE rollouts SET {sets} WHERE id = :id"), {**values, "id": r.id})
    return r.id


def rollouts(conn: Connection, limit: int) -> list[Rollout]:
    rows = conn.execute(
        sa.text(f"SELECT {_ROLLOUT} FROM rollouts ORDER BY id DESC LIMIT :n"), {"n": limit}
    )
    return [_rollout(r._mapping) for r in rows]  # type: ignore[arg-type]


def rollout(conn: Connection, rollout_id: int) -> Rollout | None:
    row = conn.execute(
        sa.text(f"SELECT {_ROLLOUT} FROM rollouts WHERE id = :i"), {"i": rollout_id}
    ).first()
    return None if row is None else _rollout(row._mapping)  # type: ignore[arg-type]


def add_events(conn: Connection, rollout_id: int, events: Sequence[RolloutEvent]) -> None:
    if events:
        conn.execute(
            sa.text(
                "INSERT INTO rollout_events (rollout_id, at, kind, reason, figures) "
                "VALUES (:r, :at, :kind, :reason, :figures)"
            ),
            [
                {
                    "r": rollout_id or e.rollout_id,
                    "at": e.at,
                    "kind": e.kind,
                    "reason": e.reason,
                    "figures": _json(e.figures),
                }
                for e in events
            ],
        )


def rollout_events(
    conn: Connection, after: int, limit: int, rollout_id: int | None
) -> list[RolloutEvent]:
    where = "WHERE id > :after" + ("" if rollout_id is None else " AND rollout_id = :r")
    rows = conn.execute(
        sa.text(
            f"SELECT id, rollout_id, at, kind, reason, figures FROM rollout_events {where} "
            "ORDER BY id LIMIT :n"
        ),
        {"after": after, "r": rollout_id, "n": limit},
    )
    return [
        RolloutEvent(int(r[1]), float(r[2]), r[3], r[4], orjson.loads(r[5]), int(r[0]))
        for r in rows
    ]


# -- training data --------------------------------------------------------------------------


def training_rows(conn: Connection, q: TrainingQuery) -> TrainingRows:
    """The newest ``q.limit`` readings of the type in the window, returned oldest first.

    The inner query is the readings alone: ``ts`` bounds prune the partitions and the
    ``readings_ts`` index is read backwards until ``limit`` rows of the type are found
    (ties broken by key, so the cut is the same every time). Only the rows kept are then
    looked up in ``cloud_verdicts``, by primary key.
    """
    until = "" if q.until is None else "AND ts < :until "
    rows = conn.execute(
        sa.text(
            "SELECT r.agent_id, r.sensor_id, r.ts, r.metrics, r.status, r.label, r.anomaly, "
            "COALESCE(c.anomaly, false) FROM (SELECT agent_id, epoch, seq, sensor_id, ts, "
            "metrics, status, label, anomaly FROM readings WHERE sensor_type = :type "
            f"AND ts >= :since {until}"
            "ORDER BY ts DESC, agent_id DESC, epoch DESC, seq DESC LIMIT :n) r "
            "LEFT JOIN cloud_verdicts c ON c.agent_id = r.agent_id AND c.epoch = r.epoch "
            "AND c.seq = r.seq ORDER BY r.ts, r.agent_id, r.epoch, r.seq"
        ),
        {"type": q.sensor_type, "since": q.since, "until": q.until, "n": q.limit},
    ).all()
    n = len(rows)
    batch = ReadingBatch(
        sensor_id=[r[1] for r in rows],
        sensor_type=[q.sensor_type] * n,
        ts=np.array([r[2] for r in rows], dtype=np.float64),
        metrics=metric_columns([r[3] for r in rows]),
        status=[r[4] for r in rows],
        label=[r[5] for r in rows],
    )
    return TrainingRows(
        batch=batch,
        agent_id=[r[0] for r in rows],
        anomaly=np.array([bool(r[6]) for r in rows], dtype=np.bool_),
        cloud_anomaly=np.array([bool(r[7]) for r in rows], dtype=np.bool_),
    )


def metric_columns(texts: Sequence[str | None]) -> dict[str, FloatArray]:
    """Stored metrics (one JSON object per reading) as columns, NaN where a reading has
    no such metric or was not read (``None``)."""
    n = len(texts)
    columns: dict[str, FloatArray] = {}
    for i, text in enumerate(texts):
        if text is None:
            continue
        for name, value in orjson.loads(text).items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = np.full(n, np.nan)
            column[i] = value
    return columns


# -- the store's face -----------------------------------------------------------------------


class PgModels(PgConcern):
    """``ModelStore`` on ``PostgresStore``."""

    def add_model(self, model: NewModel) -> ModelRecord:
        with self._transaction() as conn:
            return add_model(conn, model)

    def delete_candidates(self, model_ids: Sequence[int]) -> None:
        with self._transaction() as conn:
            delete_candidates(conn, model_ids)

    def resign_models(self, signatures: Mapping[int, tuple[str, str]]) -> None:
        with self._transaction() as conn:
            resign(conn, signatures)

    def add_signing_key(self, key: SigningKeyRecord) -> None:
        with self._transaction() as conn:
            add_signing_key(conn, key)

    def commit_rollout(
        self,
        rollout: Rollout,
        statuses: Mapping[int, ModelStatus],
        events: Sequence[RolloutEvent],
    ) -> Rollout:
        at = max([e.at for e in events], default=time.time())
        with self._transaction() as conn:
            rollout_id = save_rollout(conn, rollout)
            set_statuses(conn, statuses, at)
            add_events(conn, rollout_id, events)
        return replace(rollout, id=rollout_id)

    def models(self, sensor_type: str | None = None) -> list[ModelRecord]:
        return self._read(lambda c: models(c, sensor_type))

    def model(self, model_id: int) -> ModelRecord | None:
        return self._read(lambda c: model(c, model_id))

    def model_file(self, model_id: int) -> bytes | None:
        return self._read(lambda c: model_file(c, model_id))

    def latest_model_version(self, sensor_type: str) -> int:
        return self._read(lambda c: latest_version(c, sensor_type))

    def signing_keys(self) -> list[SigningKeyRecord]:
        return self._read(signing_keys)

    def rollouts(self, limit: int = 100) -> list[Rollout]:
        return self._read(lambda c: rollouts(c, limit))

    def rollout(self, rollout_id: int) -> Rollout | None:
        return self._read(lambda c: rollout(c, rollout_id))

    def rollout_events(
        self, after: int, limit: int, rollout_id: int | None = None
    ) -> list[RolloutEvent]:
        return self._read(lambda c: rollout_events(c, after, limit, rollout_id))

    def training_rows(self, query: TrainingQuery) -> TrainingRows:
        return self._read(lambda c: training_rows(c, query))
