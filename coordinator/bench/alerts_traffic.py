"""The traffic of ``edgewatch bench alerts``: publishers that run as child processes, so
their cost stays out of the coordinator's (which runs in the bench's own process)."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from edgewatch.coordinator.bench.ingest import _payloads
from edgewatch.shared.topics import Topics

NAMES = ("temperature", "humidity", "pressure", "vibration", "power_consumption")


def flood(port: int, batches: int, size: int, out: Any) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    topics = Topics()
    payloads = _payloads(batches, size, "bench")
    slots = threading.Semaphore(16)
    done = threading.Event()
    acked = [0]

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        acked[0] += 1
        slots.release()
        if acked[0] == batches:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, "bench-flood", protocol=MQTTProtocolVersion.MQTTv5
    )
    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.max_inflight_messages_set(16)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topics.ack("bench"), 1)
    subscribed.wait(10)
    started = time.perf_counter()
    for payload in payloads:
        slots.acquire()
        client.publish(topics.results("bench"), payload, qos=1)
    done.wait(300)
    out.put({"elapsed_s": time.perf_counter() - started, "acked": acked[0]})
    client.loop_stop()
    client.disconnect()


def _batch(seq: int, sensors: list[str], anomaly: list[bool], confidence: float) -> bytes:
    n = len(sensors)
    now = time.time()
    return orjson.dumps(
        {
            "schema_version": 2,
            "agent_id": "paced",
            "epoch": 1,
            "first_seq": seq,
            "sensor_id": sensors,
            "sensor_type": ["industrial"] * n,
            "ts": [now] * n,
            "metrics": {m: [20.0] * n for m in NAMES},
            "status": ["normal"] * n,
            "label": [0] * n,
            "score": [0.1] * n,
            "anomaly": anomaly,
            "confidence": [confidence if a else 0.5 for a in anomaly],
            "scorer": ["rules"] * n,
        }
    )


def paced(port: int, rate: float, seconds: float, size: int, out: Any) -> None:
    """Publish ``rate`` readings/s of normal data with triggers; record when alerts arrive."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    topics = Topics()
    raised: dict[str, float] = {}
    sent: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if "/alerts/events/" not in msg.topic:
            return
        body = orjson.loads(msg.payload)
        if body["event"]["kind"] == "raised":
            with lock:
                raised.setdefault(body["alert"]["key"], time.time())

    client = paho.Client(
        CallbackAPIVersion.VERSION2, "bench-paced", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(
        [(topics.alert_event("+", "#").replace("/+/#", "/#"), 1), (topics.ack("paced"), 0)]
    )
    time.sleep(0.5)
    seq, start = 0, time.monotonic()
    period = size / rate
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n * period
        time.sleep(max(0.0, due - time.monotonic()))
        sensors = [f"live-{i % 50}" for i in range(size)]
        anomaly = [False] * size
        confidence = 0.99
        key = None
        if n % max(1, int(0.5 / period)) == 0:
            sensors[0], anomaly[0] = f"crit-{n}", True
            key = f"critical_anomaly/sensor:crit-{n}"
        elif n % max(1, int(2.0 / period)) == 1:
            for i in range(80):  # above the rule's minimum count (60), all anomalous
                sensors[i], anomaly[i] = f"rate-{n}", True
            confidence = 0.5
            key = f"high_anomaly_rate/sensor:rate-{n}"
        payload = _batch(seq, sensors, anomaly, confidence)
        if key is not None:
            sent[key] = orjson.loads(payload)["ts"][0]
        client.publish(topics.results("paced"), payload, qos=1)
        seq += size
        n += 1
    time.sleep(3.0)  # the last alerts
    client.loop_stop()
    client.disconnect()
    with lock:
        pairs = {k: (raised[k] - sent[k]) * 1000 for k in sent if k in raised}
    out.put({"sent": sent, "latency_ms": pairs, "readings": seq, "elapsed_s": seconds})
