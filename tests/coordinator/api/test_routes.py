"""The REST API over a real uvicorn: auth, health, stats (bad input), readings, agents."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from edgewatch.shared.schemas import Heartbeat, Hello, Result
from tests.support.coordinator import (
    TOPICS,
    ApiServer,
    BrokerRef,
    Publisher,
    batch_dict,
    coord_api,
    coord_broker,
    coord_embedded,
    coord_mosquitto,
    coord_publisher,
    make_batch,
    make_settings,
    serve,
    wait_ready,
)

__all__ = ["coord_api", "coord_broker", "coord_embedded", "coord_mosquitto", "coord_publisher"]
DATA_ROUTES = ("/api/v1/agents", "/api/v1/readings", "/api/v1/stats", "/api/v1/agents/x")


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def test_health_needs_no_token_and_reports_the_link(
    coord_api: ApiServer, coord_broker: BrokerRef
) -> None:
    with coord_api.client(token=None) as http:
        ready = http.get("/api/v1/health/ready")
        live = http.get("/api/v1/health/live").json()
    body = ready.json()
    assert ready.status_code == 200
    assert body["status"] == "ready" and body["db_ok"] and body["broker_connected"]
    assert body["mqtt_protocol"] == ("5" if coord_broker.kind == "mosquitto" else "3.1.1")
    assert live["status"] == "ok" and live["version"] and live["uptime_s"] > 0
    # Nothing an attacker could use: no broker address, port or user.
    assert "127.0.0.1" not in ready.text and coord_broker.url not in ready.text


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
def test_data_routes_refuse_missing_or_wrong_token(coord_api: ApiServer, token: str | None) -> None:
    with coord_api.client(token=token) as http:
        for route in DATA_ROUTES:
            response = http.get(route)
            assert response.status_code == 401, route
            assert response.headers["www-authenticate"] == "Bearer"
    with coord_api.client() as http:
        assert http.get("/api/v1/stats").status_code == 200


def _bad_payloads(good: dict[str, Any]) -> dict[str, tuple[str, str, bytes]]:
    """reason -> (topic agent, payload agent, payload) for each class of bad input."""

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**good, **changes})

    text = orjson.dumps(good).decode()
    metrics = good["metrics"]
    missing = {k: v for k, v in good.items() if k != "scorer"}
    n = len(good["ts"])
    return {
        "json": ("bad", "bad", b'{"schema_version": 1, "agent_id": '),
        "utf8": ("bad", "bad", b'{"agent_id": "\xff\xfe"}'),
        "non_finite": ("bad", "bad", text.replace('"score":[0.1', '"score":[NaN', 1).encode()),
        "wrong_type": ("bad", "bad", variant(metrics={**metrics, "humidity": [True] * n})),
        "missing_field": ("bad", "bad", orjson.dumps(missing)),
        "extra_field": ("bad", "bad", variant(firmware="1.2")),
        "too_large": ("bad", "bad", variant(scorer=["x" * 60] * n) + b" " * 70_000),
        "ts_range": ("bad", "bad", variant(ts=[t * 1000 for t in good["ts"]])),
        "agent_mismatch": ("bad", "bad", variant(agent_id="someone-else")),
        "bad_value": ("bad", "bad", variant(schema_version=3)),
    }


def test_bad_input_is_counted_by_reason_and_never_stored(
    coord_api: ApiServer, coord_publisher: Publisher
) -> None:
    wait_ready(coord_api.service, coord_publisher)
    good = batch_dict(make_batch("bad", 4))
    bad = _bad_payloads(good)
    # Infinity is a second spelling of non-finite; it must land in the same bucket.
    infinity = orjson.dumps(good).decode().replace('"score":[0.1', '"score":[Infinity', 1)
    sends = [*bad.values(), ("bad", "bad", infinity.encode())]
    for i, (topic_agent, _, payload) in enumerate(sends):
        coord_publisher.publish(TOPICS.results(topic_agent), payload)
        coord_publisher.send(make_batch("good", 10, first_seq=i * 10))
    coord_publisher.wait_acks(len(sends), "good")

    def stats() -> dict[str, Any]:
        with coord_api.client() as http:
            body: dict[str, Any] = http.get("/api/v1/stats").json()
            return body

    _wait_for(lambda: sum(stats()["rejected"].values()) >= len(sends))
    body = stats()
    expected = {reason: 1 for reason in bad} | {"non_finite": 2}
    assert body["rejected"] == expected
    assert body["agents"]["bad"]["rejected"] == expected
    assert body["agents"]["bad"]["readings_stored"] == 0
    assert body["agents"]["good"]["readings_stored"] == 10 * len(sends)
    assert body["readings_stored"] == 10 * len(sends) and body["duplicates_dropped"] == 0
    assert body["ingest_readings_per_s"] > 0 and body["ingest"]["transactions"] >= 1
    with coord_api.client() as http:
        page = http.get("/api/v1/readings", params={"agent_id": "bad"}).json()
        assert page == {"readings": [], "next_cursor": None}
        assert coord_api.service.connected
        assert http.get("/api/v1/health/ready").json()["status"] == "ready"


def test_readings_filtered_by_sensor_and_time_shaped_like_results(
    coord_api: ApiServer, coord_publisher: Publisher
) -> None:
    wait_ready(coord_api.service, coord_publisher)
    batch = make_batch("r1", 30, ts=1_700_000_000.0)
    coord_publisher.send(batch)
    coord_publisher.wait_acks(1, "r1")
    with coord_api.client() as http:
        rows = http.get("/api/v1/readings", params={"sensor_id": "s-2"}).json()["readings"]
        window = http.get(
            "/api/v1/readings", params={"since": batch.ts[5], "until": batch.ts[8], "limit": 2}
        ).json()["readings"]
        assert http.get("/api/v1/readings", params={"limit": 0}).status_code == 422
        assert http.get("/api/v1/readings", params={"limit": 10_001}).status_code == 422
    assert [r["seq"] for r in rows] == list(range(2, 30, 3))
    assert all(Result.model_validate(r, strict=False) for r in rows)
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert "vibration" not in rows[-1]["metrics"] and rows[-1]["metrics"]["temperature"] == 49.0
    assert [r["seq"] for r in window] == [5, 6]


def test_agents_show_hello_heartbeat_and_stored_count(
    coord_api: ApiServer, coord_publisher: Publisher
) -> None:
    wait_ready(coord_api.service, coord_publisher)
    now = time.time()
    hello = Hello(agent_id="pi-1", ts=now, version="0.1.0", tier="medium", sensors=5, epoch=3)
    beat = Heartbeat(
        agent_id="pi-1",
        ts=now,
        uptime_s=12.0,
        cpu_percent=7.5,
        memory_percent=20.0,
        rss_mb=41.0,
        outbox_rows=123,
        outbox_bytes=4567,
        outbox_oldest_age_s=1.5,
        readings_scored=500,
        readings_acked=377,
        scorer="rules",
        mqtt_protocol="5",
    )
    coord_publisher.publish(TOPICS.hello("pi-1"), orjson.dumps(hello.model_dump()))
    coord_publisher.publish(TOPICS.heartbeat("pi-1"), orjson.dumps(beat.model_dump()))
    coord_publisher.send(make_batch("pi-1", 8, epoch=3))
    coord_publisher.wait_acks(1, "pi-1")
    with coord_api.client() as http:
        _wait_for(lambda: http.get("/api/v1/agents/pi-1").status_code == 200)
        one = http.get("/api/v1/agents/pi-1").json()
        listed = {a["id"]: a for a in http.get("/api/v1/agents").json()}
        missing = http.get("/api/v1/agents/nobody")
        online = http.get("/api/v1/stats").json()["agents_online"]
    assert listed["pi-1"] == one
    assert (one["state"], one["tier"], one["epoch"], one["scorer"]) == (
        "online",
        "medium",
        3,
        "rules",
    )
    assert one["outbox_rows"] == 123 and one["heartbeat"]["cpu_percent"] == 7.5
    assert one["readings_stored"] == 8 and one["last_heartbeat_at"] is not None
    assert missing.status_code == 404
    assert online == 2  # pi-1 and the readiness probe


def test_metrics_expose_ingest_counters(coord_api: ApiServer, coord_publisher: Publisher) -> None:
    wait_ready(coord_api.service, coord_publisher)
    coord_publisher.send(make_batch("m1", 25))
    coord_publisher.publish(TOPICS.results("m1"), b"not json")
    coord_publisher.send(make_batch("m1", 25, first_seq=25))
    coord_publisher.wait_acks(2, "m1")
    refused = httpx.get(coord_api.base_url + "/metrics")
    with coord_api.client() as client:
        text = client.get("/metrics").text
    assert refused.status_code == 401  # behind a token unless --metrics-open
    assert "edgewatch_readings_stored_total 50.0" in text
    assert 'edgewatch_rejected_total{reason="json"} 1.0' in text
    assert "edgewatch_end_to_end_lag_seconds_count 50.0" in text
    assert "edgewatch_ingest_queue_depth" in text


def test_generated_token_is_written_private_and_works(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=0)
    broker.start()
    try:
        settings = make_settings(tmp_path, broker.url, api_token=None)
        gen = serve(settings)
        api = next(gen)
        try:
            path = settings.token_path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.read_text().strip() == api.token and len(api.token) >= 32
            with api.client() as http:
                assert http.get("/api/v1/stats").status_code == 200
        finally:
            gen.close()
    finally:
        broker.stop()


def test_openapi_lists_every_route(coord_api: ApiServer) -> None:
    spec = httpx.get(coord_api.base_url + "/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/v1/health/live", "/api/v1/health/ready", "/api/v1/agents"} <= paths
    assert "/api/v1/agents/{agent_id}" in paths
    assert {"/api/v1/readings", "/api/v1/stats"} <= paths
    assert httpx.get(coord_api.base_url + "/docs").status_code == 200
