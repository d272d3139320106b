"""shared.wire: the coordinator reads the current and the previous schema version.

The version 1 payloads in tests/fixtures/wire_v1/ were captured from the first release's
agent (``mosquitto_sub`` on its topics), so "version 1" here is what was really sent,
not our idea of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from edgewatch.shared import wire
from edgewatch.shared.codec import encode
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.schemas import MAX_INT, Ack, Heartbeat, Hello, ModelRef, SeqRange
from edgewatch.shared.schemas_v1 import HeartbeatV1

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire_v1"


def _v1(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_version_1_messages_of_the_first_release_decode_and_upgrade() -> None:
    hello = wire.decode_hello(orjson.dumps(_v1("hello")))
    assert isinstance(hello, Hello) and hello.schema_version == 2
    assert hello.agent_id == "old-agent" and hello.models == {}
    beat = wire.decode_heartbeat(orjson.dumps(_v1("heartbeat")))
    assert isinstance(beat, Heartbeat) and beat.outbox_rows == _v1("heartbeat")["outbox_rows"]
    for batch in _v1("results"):
        decoded = wire.decode_results(orjson.dumps(batch))
        assert decoded.schema_version == 1 and decoded.size == len(batch["sensor_id"])
    assert wire.decode_status(orjson.dumps(_v1("status"))).state == "online"
    assert wire.decode_ack(orjson.dumps(_v1("ack"))).conflicts == []


def test_version_1_model_text_is_kept_when_it_is_a_version() -> None:
    hello = {**_v1("hello"), "models": {"pump": "7", "fan": "v3"}}
    assert wire.decode_hello(orjson.dumps(hello)).models == {"pump": ModelRef(version=7)}


def test_a_version_we_do_not_speak_is_refused_by_reason() -> None:
    for version in (0, 3):
        with pytest.raises(PayloadError) as info:
            wire.decode_hello(orjson.dumps({**_v1("hello"), "schema_version": version}))
        assert info.value.reason == "bad_version"
    with pytest.raises(PayloadError) as info:
        wire.decode_hello(
            orjson.dumps({k: v for k, v in _v1("hello").items() if k != "schema_version"})
        )
    assert info.value.reason == "missing_field"


@pytest.mark.parametrize("field", ["outbox_rows", "readings_scored", "readings_acked"])
@pytest.mark.parametrize("version", [1, 2])
def test_integers_beyond_2_53_are_refused_in_every_version(field: str, version: int) -> None:
    beat = _v1("heartbeat") if version == 1 else _current_heartbeat()
    # Valid JSON that orjson, SQLite and JavaScript cannot hold exactly: 2^64 + 1.
    payload = orjson.dumps(beat).replace(
        f'"{field}":{beat[field]}'.encode(), f'"{field}":{2**64 + 1}'.encode()
    )
    assert str(2**64 + 1).encode() in payload
    with pytest.raises(PayloadError) as info:
        wire.decode_heartbeat(payload)
    assert info.value.reason in ("out_of_range", "wrong_type")
    exact = orjson.dumps({**beat, field: MAX_INT})
    assert getattr(wire.decode_heartbeat(exact), field) == MAX_INT


def test_dropped_counts_are_bounded_too() -> None:
    beat = {**_current_heartbeat(), "dropped": {"bound": 2**63}}
    with pytest.raises(PayloadError):
        wire.decode_heartbeat(orjson.dumps(beat))


def _current_heartbeat() -> dict[str, Any]:
    v1 = HeartbeatV1.model_validate_json(orjson.dumps(_v1("heartbeat")))
    return json.loads(encode(v1.upgrade()))


def test_acks_go_out_in_the_version_of_the_batch() -> None:
    ack = Ack(
        agent_id="a",
        epoch=5,
        first_seq=0,
        last_seq=9,
        stored=7,
        duplicates=0,
        conflicts=[SeqRange(first=2, last=4)],
    )
    assert wire.ack_for(2, ack) is ack
    old = wire.ack_for(1, ack)
    # A version 1 agent is told the batch was rejected for the conflict: the incoming
    # copies are in the coordinator's quarantine, and it must stop resending.
    assert old.schema_version == 1 and old.conflicts == [] and old.rejected == "conflict"
    # On the wire, exactly the fields a version 1 ack had (its agent forbids others).
    assert set(json.loads(wire.encode_ack(old))) == set(_v1("ack"))
    assert set(json.loads(wire.encode_ack(ack))) == {*_v1("ack"), "conflicts"}
    clean = wire.ack_for(1, ack.model_copy(update={"conflicts": []}))
    assert clean.schema_version == 1 and clean.rejected is None
