"""Wire schemas and the codec: strict, finite, closed, and every refusal has a reason."""

from __future__ import annotations

import time

import orjson
import pytest

from edgewatch.shared.codec import decode, encode
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.schemas import Ack, AgentStatus, Heartbeat, ResultBatch


def _batch(**changes: object) -> dict[str, object]:
    now = time.time()
    doc: dict[str, object] = {
        "schema_version": 1,
        "agent_id": "pi-7",
        "epoch": 42,
        "first_seq": 10,
        "sensor_id": ["SENSOR_001", "SENSOR_002"],
        "sensor_type": ["industrial", "industrial"],
        "ts": [now, now + 0.5],
        "metrics": {"temperature": [21.5, None], "vibration": [0.4, 0.6]},
        "status": ["normal", None],
        "label": [0, None],
        "score": [-0.2, None],
        "anomaly": [False, True],
        "confidence": [0.9, 0.7],
        "scorer": ["rules", "rules"],
    }
    doc.update(changes)
    return doc


def test_a_valid_batch_decodes_with_its_seq_range() -> None:
    batch = decode(orjson.dumps(_batch()), ResultBatch)
    assert (batch.size, batch.first_seq, batch.last_seq) == (2, 10, 11)
    assert batch.metrics["temperature"] == [21.5, None]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (orjson.dumps(_batch()).replace(b"21.5", b"NaN"), "non_finite"),
        (orjson.dumps(_batch()).replace(b"21.5", b"Infinity"), "non_finite"),
        (orjson.dumps(_batch(score=["0.1", None])), "wrong_type"),
        (orjson.dumps(_batch(label=[True, None])), "wrong_type"),
        (orjson.dumps(_batch(extra=1)), "extra_field"),
        (orjson.dumps({k: v for k, v in _batch().items() if k != "ts"}), "missing_field"),
        (orjson.dumps(_batch(ts=[time.time() * 1000, time.time()])), "ts_range"),
        (orjson.dumps(_batch(ts=[1.0, time.time()])), "ts_range"),
        (orjson.dumps(_batch(anomaly=[False])), "shape"),
        (orjson.dumps(_batch(schema_version=3)), "bad_value"),
        (orjson.dumps(_batch(sensor_id=["bad id", "x"])), "bad_value"),
        (b"\xff" + orjson.dumps(_batch()), "utf8"),
        (orjson.dumps(_batch())[:-3], "json"),
        (b"[" * 10_000 + b"]" * 10_000, "json"),
    ],
)
def test_each_way_of_being_wrong_has_its_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode(payload, ResultBatch)
    assert info.value.reason == reason


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadError) as info:
        decode(b" " * 2048, ResultBatch, max_bytes=1024)
    assert info.value.reason == "too_large"


def test_small_messages_round_trip_through_encode() -> None:
    ack = Ack(agent_id="pi-7", epoch=42, first_seq=0, last_seq=9, stored=10, duplicates=0)
    assert decode(encode(ack), Ack) == ack
    status = AgentStatus(agent_id="pi-7", state="offline")
    assert decode(encode(status), AgentStatus) == status


def test_heartbeat_bounds_are_enforced() -> None:
    doc = {
        "agent_id": "pi-7",
        "ts": time.time(),
        "uptime_s": 1.0,
        "cpu_percent": 5.0,
        "memory_percent": 140.0,
        "rss_mb": 60.0,
        "outbox_rows": 0,
        "outbox_bytes": 0,
        "outbox_oldest_age_s": 0.0,
        "readings_scored": 0,
        "readings_acked": 0,
        "scorer": "rules",
        "mqtt_protocol": "5",
    }
    with pytest.raises(PayloadError) as info:
        decode(orjson.dumps(doc), Heartbeat)
    assert info.value.reason == "out_of_range"
    doc["memory_percent"] = 40.0
    assert decode(orjson.dumps(doc), Heartbeat).conditions == []
