"""The transport-only baseline: the same batches through the same broker, nothing else.

A bare paho publisher sends pre-encoded batches at QoS 1 as fast as the broker takes
them and a bare paho subscriber counts them. No outbox, no validation, no store, no
acks: the ceiling our pipeline is measured against, in the same run, on the same broker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.agent.encoder import encode_batch
from edgewatch.agent.scorers.factory import default_rules_scorer
from edgewatch.agent.sources.simulator import expected_stream


@dataclass(frozen=True)
class TransportResult:
    messages: int
    readings: int
    received_readings: int
    seconds: float

    @property
    def readings_per_s(self) -> float:
        return self.received_readings / self.seconds if self.seconds > 0 else 0.0


def make_payloads(count: int, sensors: int, batch: int, seed: int) -> list[tuple[bytes, int]]:
    """Encoded result batches of the simulated stream, as the agent would send them."""
    stream = expected_stream(seed=seed, sensors=sensors, sensor_offset=0, count=count)
    stream.ts[:] = time.time()  # the ledger stream carries ts=0; stamp it like a live source
    scorer = default_rules_scorer()
    out: list[tuple[bytes, int]] = []
    for start in range(0, count, batch):
        part = stream.take(range(start, min(count, start + batch)))
        enc = encode_batch(part, scorer.score(part), agent_id="transport", epoch=1, first_seq=start)
        out.append((enc.payload, enc.n))
    return out


def _client(name: str, protocol: str) -> paho.Client:
    version = MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=version)
    client.max_inflight_messages_set(64)
    return client


def run_transport(
    host: str, port: int, protocol: str, payloads: list[tuple[bytes, int]], timeout: float = 120
) -> TransportResult:
    topic = "edgewatch-bench/transport"
    total = sum(n for _, n in payloads)
    got = {"messages": 0}
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        # Counting is all a bare subscriber does: the ceiling, not a consumer.
        got["messages"] += 1
        if got["messages"] >= len(payloads):
            done.set()

    sub = _client("bench-transport-sub", protocol)
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(host, port)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    subscribed.wait(10)
    pub = _client("bench-transport-pub", protocol)
    pub.connect(host, port)
    pub.loop_start()
    t0 = time.perf_counter()
    for payload, _ in payloads:
        pub.publish(topic, payload, qos=1)
    done.wait(timeout)
    seconds = time.perf_counter() - t0
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    received = sum(n for _, n in payloads[: got["messages"]])
    return TransportResult(len(payloads), total, received, seconds)
