"""Alerts and aggregates through the real HTTP API and a real broker: an alert raised by a
heartbeat, seen at once by a ``mosquitto_sub``-like subscriber to the retained active set,
acknowledged and cleared by hand (history kept, retained message removed); silences;
windows of what was stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.shared.mqtt import BrokerAddress
from edgewatch.shared.schemas import Heartbeat
from tests.support.coordinator import (
    TOPICS,
    ApiServer,
    Publisher,
    coord_api,
    coord_broker,
    coord_embedded,
    coord_mosquitto,
    coord_publisher,
    make_batch,
    wait_ready,
)

__all__ = ["coord_api", "coord_broker", "coord_embedded", "coord_mosquitto", "coord_publisher"]


def _wait_for(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class Watcher:
    """``mosquitto_sub -t 'edgewatch/alerts/active/#'``: the retained state, live."""

    def __init__(self, url: str) -> None:
        addr = BrokerAddress.parse(url)
        self.state: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="watch", protocol=MQTTProtocolVersion.MQTTv311
        )
        self.client.on_message = self._message
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        self.client.subscribe("edgewatch/alerts/active/#", 1)

    def _message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            if msg.payload:
                self.state[msg.topic] = bytes(msg.payload)
            else:
                self.state.pop(msg.topic, None)

    def active(self) -> set[str]:
        with self._lock:
            return set(self.state)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _beat(agent_id: str, battery: float) -> bytes:
    beat = Heartbeat(
        agent_id=agent_id, ts=time.time(), uptime_s=1.0, cpu_percent=1.0, memory_percent=1.0,
        rss_mb=1.0, battery_percent=battery, battery_simulated=True, outbox_rows=0,
        outbox_bytes=0, outbox_oldest_age_s=0.0, readings_scored=0, readings_acked=0,
        scorer="rules", mqtt_protocol="3.1.1",
    )  # fmt: skip
    return orjson.dumps(beat.model_dump())


def test_an_alert_through_its_lifecycle_over_http_and_mqtt(
    coord_api: ApiServer, coord_publisher: Publisher
) -> None:
    wait_ready(coord_api.service, coord_publisher)
    coord_publisher.publish(TOPICS.heartbeat("pi-b"), _beat("pi-b", 9.0))
    topic = "edgewatch/alerts/active/low_battery/agent:pi-b"
    with coord_api.client() as http:
        _wait_for(lambda: http.get("/api/v1/alerts").json()["alerts"])
        (alert,) = http.get("/api/v1/alerts?state=active&rule=low_battery").json()["alerts"]
        assert alert["scope"] == "agent:pi-b" and alert["state"] == "open"
        assert alert["key"] == "low_battery/agent:pi-b" and alert["value"] == 9.0
        # A subscriber that comes later still sees it at once: retained.
        watcher = Watcher(coord_api.settings.broker)
        try:
            _wait_for(lambda: topic in watcher.active())
            assert orjson.loads(watcher.state[topic])["id"] == alert["id"]
            acked = http.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ops", "note": "x"})
            assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
            _wait_for(lambda: orjson.loads(watcher.state[topic])["state"] == "acknowledged")
            cleared = http.post(f"/api/v1/alerts/{alert['id']}/clear", json={"by": "ops"})
            assert cleared.json()["state"] == "cleared" and cleared.json()["cleared_by"] == "ops"
            _wait_for(lambda: topic not in watcher.active())  # the empty retained message
        finally:
            watcher.close()
        detail = http.get(f"/api/v1/alerts/{alert['id']}").json()
        assert [(e["kind"], e["actor"]) for e in detail["history"]] == [
            ("raised", "rule"),
            ("acknowledged", "ops"),
            ("cleared", "ops"),
        ]
        metrics = http.get("/metrics").text
        assert 'edgewatch_alert_transitions_total{kind="raised",rule="low_battery"} 1.0' in metrics
        assert "edgewatch_alerts_active 0.0" in metrics
        assert http.post("/api/v1/alerts/999999/ack").status_code == 404
        assert http.get("/api/v1/alerts?state=bogus").status_code == 422


def test_silences_over_http(coord_api: ApiServer) -> None:
    with coord_api.client() as http:
        made = http.post(
            "/api/v1/silences",
            json={"rule": "low_battery", "duration_s": 3600, "reason": "bench", "by": "ops"},
        )
        assert made.status_code == 201
        silence = made.json()
        assert [s["id"] for s in http.get("/api/v1/silences").json()] == [silence["id"]]
        assert http.delete(f"/api/v1/silences/{silence['id']}").json() == {"ended": True}
        assert http.get("/api/v1/silences").json() == []
        assert http.delete(f"/api/v1/silences/{silence['id']}").status_code == 404
        assert http.post("/api/v1/silences", json={"duration_s": -1}).status_code == 422


def test_aggregates_over_http(coord_api: ApiServer, coord_publisher: Publisher) -> None:
    wait_ready(coord_api.service, coord_publisher)
    coord_publisher.send(make_batch("pi-a", 30))
    coord_publisher.wait_acks(1, "pi-a")
    with coord_api.client() as http:

        def total() -> int:
            page = http.get("/api/v1/aggregates?scope=agent:pi-a&window=1h").json()
            return sum(w["count"] for w in page["windows"])

        _wait_for(lambda: total() == 30)
        page = http.get("/api/v1/aggregates?scope=sensor:s-1&window=1m").json()
        w = page["windows"][-1]
        assert w["window"] == "1m" and w["end"] - w["start"] == 60
        assert set(w["metrics"]) >= {"temperature", "vibration"}
        assert w["metrics"]["temperature"]["min"] <= w["metrics"]["temperature"]["mean"]
        assert w["latency_s"]["p50"] is not None and w["statuses"] == {"normal": w["count"]}
        assert http.get("/api/v1/aggregates?window=2m").status_code == 422
        assert http.get("/api/v1/aggregates?scope=room:1").status_code == 422
