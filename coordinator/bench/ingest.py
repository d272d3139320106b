"""``edgewatch bench ingest``: the coordinator's ingest alone, through a real broker.

A publisher process (bare paho, so its cost stays out of ours) sends pre-encoded
``ResultBatch`` payloads at QoS 1 with at most ``--window`` unacked batches, the way an
agent does; the coordinator runs in this process (``CoordinatorService``) on a private
Mosquitto. Prints one JSON object: readings/s from the first publish to the last ack,
and commit figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared.topics import Topics


def _payloads(batches: int, size: int, agent_id: str) -> list[bytes]:
    now = time.time()
    names = ("temperature", "humidity", "pressure", "vibration", "power_consumption")
    out = []
    for b in range(batches):
        out.append(
            orjson.dumps(
                {
                    "schema_version": 2,
                    "agent_id": agent_id,
                    "epoch": 1,
                    "first_seq": b * size,
                    "sensor_id": [f"sensor-{i % 50}" for i in range(size)],
                    "sensor_type": ["industrial"] * size,
                    "ts": [now - 1 + i * 1e-6 for i in range(size)],
                    "metrics": {m: [20.0 + (i % 7) * 0.5 for i in range(size)] for m in names},
                    "status": ["normal"] * size,
                    "label": [0] * size,
                    "score": [0.1] * size,
                    "anomaly": [False] * size,
                    "confidence": [0.9] * size,
                    "scorer": ["rules"] * size,
                }
            )
        )
    return out


def _publish(port: int, batches: int, size: int, window: int, out: Any) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    topics = Topics()
    payloads = _payloads(batches, size, "bench")
    slots = threading.Semaphore(window)
    done = threading.Event()
    acked = [0]

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        acked[0] += 1
        slots.release()
        if acked[0] == batches:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, "bench-pub", protocol=MQTTProtocolVersion.MQTTv5
    )
    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.max_inflight_messages_set(window)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topics.ack("bench"), 1)
    subscribed.wait(10)
    started = time.perf_counter()
    for payload in payloads:
        slots.acquire()
        client.publish(topics.results("bench"), payload, qos=1)
    done.wait(120)
    out.put({"elapsed_s": time.perf_counter() - started, "acked": acked[0]})
    client.loop_stop()
    client.disconnect()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--window", type=int, default=16, help="unacked batches in flight")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp, BrokerProcess("mosquitto", Path(tmp)) as broker:
        settings = CoordinatorSettings(
            broker=broker.url, db=Path(tmp) / "bench.db", mqtt_version="5", api_token=None
        )
        service = CoordinatorService(settings)
        service.start()
        try:
            if not service.wait_connected(10):
                raise RuntimeError("coordinator did not connect to the bench broker")
            results: Any = mp.get_context("spawn").Queue()
            pub = mp.get_context("spawn").Process(
                target=_publish,
                args=(broker.port, args.batches, args.batch_size, args.window, results),
            )
            pub.start()
            figures = results.get(timeout=300)
            pub.join(10)
            live = service.live()
        finally:
            service.stop()
    readings = figures["acked"] * args.batch_size
    report = {
        "bench": "ingest",
        "readings": readings,
        "readings_per_s": round(readings / figures["elapsed_s"]),
        "elapsed_s": round(figures["elapsed_s"], 3),
        "transactions": live.transactions if live else None,
        "batches_per_transaction": round(figures["acked"] / live.transactions, 2)
        if live and live.transactions
        else None,
    }
    print(json.dumps(report, indent=None if args.json else 2))
    return 0 if figures["acked"] == args.batches else 1


if __name__ == "__main__":  # also runnable alone: python -m edgewatch.coordinator.bench.ingest
    _parser = argparse.ArgumentParser(prog="edgewatch bench ingest", description=__doc__)
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
