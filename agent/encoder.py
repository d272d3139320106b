"""Turns a scored micro-batch into the wire batch the outbox stores and the uplink sends.

The agent checks its own output against the same strict schema the coordinator applies:
a reading that would be refused there (a sensor id with a space, a metric name too long,
a timestamp from an unset clock) is dropped here, counted by reason, and never enters
the outbox, where it would be resent forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from edgewatch.shared.codec import decode
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.schemas import SCHEMA_VERSION, ResultBatch
from edgewatch.shared.scoring import Scores

log = logging.getLogger(__name__)
_warn = RateLimitedLog(log)
_OPTS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class Encoded:
    payload: bytes
    n: int
    dropped: dict[str, int]


def _array(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    # orjson serialises only C-contiguous arrays; a scorer or source may hand out a
    # strided view (a column of a matrix). No copy when it already is contiguous.
    return np.ascontiguousarray(values)


def _columns(batch: ReadingBatch, scores: Scores) -> dict[str, object]:
    # orjson writes NaN in numpy arrays as null: exactly "absent metric" / "no score".
    return {
        "sensor_id": batch.sensor_id,
        "sensor_type": batch.sensor_type,
        "ts": _array(batch.ts),
        "metrics": {name: _array(column) for name, column in batch.metrics.items()},
        "status": batch.status,
        "label": batch.label,
        "score": _array(scores.score),
        "anomaly": _array(scores.anomaly),
        "confidence": np.clip(scores.confidence, 0.0, 1.0),
        "scorer": scores.scorer,
    }


def encode_batch(
    batch: ReadingBatch, scores: Scores, *, agent_id: str, epoch: int, first_seq: int
) -> Encoded:
    """Encode and self-check; readings the coordinator would refuse are left out."""
    head = {"schema_version": SCHEMA_VERSION, "agent_id": agent_id, "epoch": epoch}
    payload = orjson.dumps(
        {**head, "first_seq": first_seq, **_columns(batch, scores)}, option=_OPTS
    )
    try:
        decode(payload, ResultBatch)
        return Encoded(payload, len(batch), {})
    except PayloadError:
        pass
    # Rare path: find the offending readings one by one, keep the rest in order.
    keep: list[int] = []
    dropped: dict[str, int] = {}
    first: dict[str, str] = {}
    for i in range(len(batch)):
        one = orjson.dumps(
            {**head, "first_seq": first_seq, **_columns(batch.take([i]), _take(scores, i))},
            option=_OPTS,
        )
        try:
            decode(one, ResultBatch)
            keep.append(i)
        except PayloadError as exc:
            dropped[exc.reason] = dropped.get(exc.reason, 0) + 1
            first.setdefault(exc.reason, f"{batch.sensor_id[i]}: {exc}")
    for reason, n in dropped.items():
        # One line per reason and batch, and at most one per reason every 10 s: a sensor
        # with a bad name would otherwise write a line per reading.
        _warn.warning(
            reason, "dropping %d reading(s) the coordinator would refuse, e.g. %s", n, first[reason]
        )
    if not keep:
        return Encoded(b"", 0, dropped)
    sub, sub_scores = batch.take(keep), _take_many(scores, keep)
    payload = orjson.dumps(
        {**head, "first_seq": first_seq, **_columns(sub, sub_scores)}, option=_OPTS
    )
    return Encoded(payload, len(keep), dropped)


def _take(scores: Scores, i: int) -> Scores:
    return _take_many(scores, [i])


def _take_many(scores: Scores, idx: list[int]) -> Scores:
    ix = np.asarray(idx, dtype=np.intp)
    return Scores(
        scores.score[ix], scores.anomaly[ix], scores.confidence[ix], [scores.scorer[i] for i in idx]
    )
