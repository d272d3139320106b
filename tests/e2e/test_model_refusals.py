"""A real agent refuses every bad push, counts it by reason, and keeps scoring with what
it had. The test plays the coordinator on a real Mosquitto: it publishes the desired
states and the retained packages, signed (or not) with keys of its own."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.agent.sources.simulator import expected_stream
from edgewatch.shared import wire
from edgewatch.shared.schemas import Ack
from edgewatch.shared.signing import SignKey
from edgewatch.shared.topics import Topics
from tests.support.models import model_bytes, package, sign
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until

TOPICS = Topics()
KEY = SignKey.generate()
AGENT = "r1"
# A simulator seed whose 12 sensors include medical ones: results of the type must flow.
SEED = next(s for s in range(100) if "medical" in expected_stream(s, 12, 0, 12).sensor_type)


@dataclass
class Operator:
    """A paho client that publishes like the coordinator and watches the agent."""

    broker: MosquittoProcess
    beats: list[dict[str, Any]] = field(default_factory=list)
    scorers: list[str] = field(default_factory=list)
    generation: int = 1_900_000_000_000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, "operator", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_message = self._message
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        self.client.subscribe(TOPICS.heartbeat(AGENT), 0)
        self.client.subscribe(TOPICS.results(AGENT), 1)

    def _message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        data = json.loads(msg.payload)
        with self.lock:
            if msg.topic.endswith("/heartbeat"):
                self.beats.append(data)
            else:
                self.scorers.extend(
                    data["scorer"][i] for i, t in enumerate(data["sensor_type"]) if t == "medical"
                )
        if not msg.topic.endswith("/heartbeat"):  # ack, as the coordinator would after a commit
            n = len(data["sensor_id"])
            ack = Ack(
                agent_id=AGENT,
                epoch=data["epoch"],
                first_seq=data["first_seq"],
                last_seq=data["first_seq"] + n - 1,
                stored=n,
                duplicates=0,
            )
            client.publish(TOPICS.ack(AGENT), wire.encode_ack(ack), qos=1)

    def retain(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def order(self, version: int, sha256: str, *, rollback: bool = False) -> None:
        self.generation += 1
        desired = {
            "schema_version": 2,
            "agent_id": AGENT,
            "generation": self.generation,
            "issued_at": time.time(),
            "sensors": [],
            "models": {"medical": {"version": version, "sha256": sha256, "rollback": rollback}},
        }
        self.retain(TOPICS.desired(AGENT), orjson.dumps(desired))

    def reported(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.beats[-1]["reported"]) if self.beats else {}

    def running(self) -> int | None:
        with self.lock:
            models = self.beats[-1]["models"] if self.beats else {}
        return models["medical"]["version"] if "medical" in models else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def offer(op: Operator, version: int, payload: bytes, sha256: str, **kw: bool) -> None:
    op.retain(TOPICS.model("medical", version), payload)
    op.order(version, sha256, **kw)


@pytest.mark.mosquitto
def test_bad_pushes_are_refused_counted_and_change_nothing(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    pub = tmp_path / "pub.pem"
    pub.write_text(KEY.public.pem)
    op = Operator(mosquitto)
    try:
        procs.edgewatch(
            "agent", "--id", AGENT, "--broker", mosquitto.url, "--data-dir", str(tmp_path / AGENT),
            "--tier", "medium", "--model-pubkey", str(pub), "--rate", "200", "--sensors", "12",
            "--seed", str(SEED), "--heartbeat-s", "0.5", name=AGENT,
        )  # fmt: skip
        good = model_bytes("medical", 20)
        sha = hashlib.sha256(good).hexdigest()
        offer(op, 20, package(good, "medical", 20, sign(KEY, "medical", 20, good)), sha)
        wait_until(lambda: op.running() == 20, 30, message="the good model never ran")

        def refused() -> dict[str, int]:
            return dict(op.reported().get("models_refused", {}))

        cases: list[tuple[str, int, bytes, str, dict[str, bool]]] = []
        f = model_bytes("medical", 21)
        tampered = f[:-1] + bytes([f[-1] ^ 1])
        digest = hashlib.sha256(f).hexdigest()
        # The package claims the signed file's digest; its bytes hash otherwise.
        forged = package(tampered, "medical", 21, sign(KEY, "medical", 21, f), sha256=digest)
        cases.append(("hash_mismatch", 21, forged, digest, {}))
        f = model_bytes("medical", 22)
        s = sign(KEY, "medical", 22, f).model_copy(update={"tier": "high"})
        cases.append(
            ("bad_signature", 22, package(f, "medical", 22, s), hashlib.sha256(f).hexdigest(), {})
        )
        f = model_bytes("medical", 23)
        cases.append(
            ("unsigned", 23, package(f, "medical", 23, None), hashlib.sha256(f).hexdigest(), {})
        )
        f = model_bytes("medical", 24)
        s = sign(SignKey.generate(), "medical", 24, f)
        cases.append(
            ("wrong_key", 24, package(f, "medical", 24, s), hashlib.sha256(f).hexdigest(), {})
        )
        f = model_bytes("industrial", 25)
        s = sign(KEY, "industrial", 25, f)
        cases.append(
            ("wrong_type", 25, package(f, "industrial", 25, s), hashlib.sha256(f).hexdigest(), {})
        )
        f = model_bytes("medical", 19)
        s = sign(KEY, "medical", 19, f)
        cases.append(("older", 19, package(f, "medical", 19, s), hashlib.sha256(f).hexdigest(), {}))
        for reason, version, payload, digest, kw in cases:
            offer(op, version, payload, digest, **kw)
            wait_until(lambda r=reason: refused().get(r) == 1, 20, message=f"{reason} not counted")
            assert op.running() == 20, reason  # still what it had
        assert refused() == {r: 1 for r, *_ in cases}
        errors = op.reported()["errors"]
        assert any(e.startswith("refused model medical@19 (older)") for e in errors)
        # It keeps scoring with what it had: results of the type still name the good model.
        with op.lock:
            op.scorers.clear()
        wait_until(lambda: len(op.scorers) > 50, 20, message="no results")
        with op.lock:
            assert set(op.scorers) == {"onnx:medical@20"}
        # An explicit rollback to the older, genuinely signed version is carried out.
        offer(op, 19, cases[-1][2], cases[-1][3], rollback=True)
        wait_until(lambda: op.running() == 19, 20, message="the rollback order was not carried out")
    finally:
        op.close()
