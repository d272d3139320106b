"""A content digest per reading, so a duplicate key with different content is caught.

The store deduplicates on ``(agent_id, epoch, seq)``. Two readings under one key are the
same reading only if they say the same thing: a resend must match what was stored,
field for field. The digest is a 64-bit hash of everything a reading says (sensor, type,
time, every present metric, status, label, score, verdict, confidence, scorer), stored
beside it, so the comparison is one integer per reading and only happens on the rare
duplicate path.

Properties the callers rely on (``tests/coordinator/store/test_digest.py``):

- **stable** across processes, restarts and machines (no ``hash()``, whose string hash is
  salted per process): blake2b for strings, fixed mixing constants for numbers;
- **independent of how readings were batched**: the digest of a reading is a function
  of that reading alone, and metrics are combined order-independently, so a resend cut
  into other batches, with other metric columns present, digests the same;
- **vectorised**: one pass of numpy per column; strings are hashed once per distinct
  value in a batch (sensor ids, types and scorers repeat).

Not a cryptographic commitment: whoever can publish on an agent's topic can do worse
than collide a 64-bit hash (see docs/security, topic ACLs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edgewatch.shared.schemas import ResultBatch

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_ABSENT = np.uint64(0x9E3779B97F4A7C15)  # stands for None / null
_FIELD_KEYS = [np.uint64(0xA0761D6478BD642F + 0x1000193 * i) for i in range(16)]


def _mix(x: U64) -> U64:
    """splitmix64's finaliser: every input bit moves every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _text_hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")


def _texts(values: Sequence[str | None]) -> U64:
    # Hash each distinct value once: a batch repeats its sensor ids, types and scorers.
    distinct = list(dict.fromkeys(values))
    table = np.array(
        [int(_ABSENT) if v is None else _text_hash(v) for v in distinct], dtype=np.uint64
    )
    if len(distinct) == 1:
        return np.full(len(values), table[0], dtype=np.uint64)
    lookup = {v: i for i, v in enumerate(distinct)}
    index = np.fromiter(map(lookup.__getitem__, values), dtype=np.intp, count=len(values))
    return table[index]


def _floats(values: Sequence[float | None] | npt.NDArray[np.float64]) -> U64:
    """Bits of each float; None and NaN (absent) map to one value, -0.0 to +0.0."""
    array = np.array(values, dtype=np.float64)  # numpy turns None into NaN here
    absent = np.isnan(array)
    array[array == 0.0] = 0.0
    bits = array.view(np.uint64).copy()
    bits[absent] = _ABSENT
    return bits


def _ints(values: Sequence[int | bool | None]) -> U64:
    """Small non-negative ints (labels, verdicts); None maps to the absent value."""
    array = np.array(values, dtype=np.float64)  # None -> NaN, exact for small ints
    absent = np.isnan(array)
    out = np.where(absent, 0.0, array).astype(np.uint64)
    out[absent] = _ABSENT
    return out


def digest_columns(
    *,
    sensor_id: Sequence[str],
    sensor_type: Sequence[str],
    ts: Sequence[float],
    metrics: Mapping[str, Sequence[float | None]],
    status: Sequence[str | None],
    label: Sequence[int | None],
    score: Sequence[float | None],
    anomaly: Sequence[bool],
    confidence: Sequence[float],
    scorer: Sequence[str],
) -> I64:
    """One signed 64-bit digest per reading (SQLite INTEGER), for columnar input."""
    n = len(sensor_id)
    with np.errstate(over="ignore"):
        h = np.full(n, np.uint64(0x6A09E667F3BCC908), dtype=np.uint64)
        columns: list[U64] = [
            _texts(sensor_id),
            _texts(sensor_type),
            _floats(ts),
            _texts(status),
            _ints(label),
            _floats(score),
            _ints(anomaly),
            _floats(confidence),
            _texts(scorer),
        ]
        for key, column in zip(_FIELD_KEYS, columns, strict=False):
            h = _mix(h ^ _mix(column ^ key))
        # Metrics: a sum of per-metric terms, so their order (and which absent columns a
        # batch happens to carry) cannot change the digest. Absent values add nothing.
        total = np.zeros(n, dtype=np.uint64)
        for name, values in metrics.items():
            bits = _floats(values)
            term = _mix(bits ^ np.uint64(_text_hash(name)))
            total += np.where(bits == _ABSENT, np.uint64(0), term)
        h = _mix(h ^ _mix(total ^ _FIELD_KEYS[15]))
    return h.view(np.int64)


def digest_batch(batch: ResultBatch) -> I64:
    """The digest of every reading of ``batch``, in batch order."""
    return digest_columns(
        sensor_id=batch.sensor_id,
        sensor_type=batch.sensor_type,
        ts=batch.ts,
        metrics=batch.metrics,
        status=batch.status,
        label=batch.label,
        score=batch.score,
        anomaly=batch.anomaly,
        confidence=batch.confidence,
        scorer=batch.scorer,
    )


def digest_row(
    *,
    sensor_id: str,
    sensor_type: str,
    ts: float,
    metrics: Mapping[str, float],
    status: str | None,
    label: int | None,
    score: float | None,
    anomaly: bool,
    confidence: float,
    scorer: str,
) -> int:
    """The digest of one stored reading (its metrics as stored: absent ones left out)."""
    return int(
        digest_columns(
            sensor_id=[sensor_id],
            sensor_type=[sensor_type],
            ts=[ts],
            metrics={k: [v] for k, v in metrics.items()},
            status=[status],
            label=[label],
            score=[score],
            anomaly=[anomaly],
            confidence=[confidence],
            scorer=[scorer],
        )[0]
    )


def digest_stored(rows: Sequence[Sequence[Any]]) -> I64:
    """Digests of stored readings, all in one vectorised pass.

    ``rows`` are ``(sensor_id, sensor_type, ts, metrics, status, label, score, anomaly,
    confidence, scorer)`` with ``metrics`` a mapping of the present metrics. A resend
    storm (every batch of a reconnecting fleet already stored) runs this for every
    reading: one numpy pass per column, not one per reading (``digest_row`` in a loop
    cost ~50 µs a reading and stalled ingest exactly when it had to catch up).
    """
    if not rows:
        return np.zeros(0, dtype=np.int64)
    sid, stype, ts, metrics, status, label, score, anomaly, conf, scorer = zip(*rows, strict=True)
    names = sorted({name for m in metrics for name in m})
    return digest_columns(
        sensor_id=sid,
        sensor_type=stype,
        ts=ts,
        metrics={n: [m.get(n) for m in metrics] for n in names},
        status=status,
        label=label,
        score=score,
        anomaly=[bool(a) for a in anomaly],
        confidence=conf,
        scorer=scorer,
    )
