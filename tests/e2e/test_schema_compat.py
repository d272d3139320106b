"""A fleet upgraded one box at a time keeps delivering: an agent of the previous schema
version against the current coordinator (real Mosquitto, real coordinator process).

The previous agent is emulated at the protocol level with the payloads the first
release's agent really sent (tests/fixtures/wire_v1/, captured with mosquitto_sub), and
it reads its acks with the first release's strict ``Ack`` model: an ack with a field it
does not know would be refused by that agent, and its readings resent forever.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import BaseModel, ConfigDict, Field

from tests.support.coordinator import batch_dict, make_batch
from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire_v1"
AGENT = "old-pi"


class AckV1(BaseModel):
    """The first release's Ack, as its agent validated it."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    schema_version: Literal[1] = 1
    agent_id: str
    epoch: int = Field(gt=0)
    first_seq: int = Field(ge=0)
    last_seq: int = Field(ge=0)
    stored: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    rejected: str | None = None


def _fixture(name: str, **changes: Any) -> bytes:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return orjson.dumps({**data, "agent_id": AGENT, **changes})


@pytest.mark.mosquitto
def test_an_agent_speaking_the_previous_version_is_stored_and_answered_in_it(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    acks: list[AckV1] = []
    refused: list[str] = []
    lock = threading.Condition()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with lock:
            try:
                acks.append(AckV1.model_validate_json(msg.payload))
            except ValueError as exc:
                refused.append(str(exc))
            lock.notify_all()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=AGENT, protocol=MQTTProtocolVersion.MQTTv311
    )
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.subscribe(f"edgewatch/agents/{AGENT}/ack", qos=1)
        now = time.time()
        epoch = 2835851497965147
        for topic, payload in (
            ("status", _fixture("status")),
            ("hello", _fixture("hello", ts=now, epoch=epoch)),
            ("heartbeat", _fixture("heartbeat", ts=now)),
        ):
            client.publish(
                f"edgewatch/agents/{AGENT}/{topic}", payload, qos=1, retain=topic != "heartbeat"
            ).wait_for_publish(5)
        batches = [
            make_batch(AGENT, 50, epoch=epoch, first_seq=i * 50, schema_version=1) for i in range(4)
        ]
        for batch in batches:
            client.publish(
                f"edgewatch/agents/{AGENT}/results", orjson.dumps(batch_dict(batch)), qos=1
            ).wait_for_publish(5)
        with lock:
            lock.wait_for(lambda: len(acks) + len(refused) >= len(batches), 15)
        assert refused == [], refused
        assert [(a.first_seq, a.last_seq, a.stored) for a in acks] == [
            (i * 50, i * 50 + 49, 50) for i in range(4)
        ]
        assert coord.stored() == 200
        wait_until(lambda: coord.api(f"agents/{AGENT}").get("heartbeat"), 10, message="no beat")
        seen = coord.api(f"agents/{AGENT}")
        assert (seen["tier"], seen["epoch"], seen["outbox_rows"]) == ("low", epoch, 100)
        assert coord.api("stats")["rejected"] == {}
    finally:
        client.loop_stop()
        client.disconnect()
