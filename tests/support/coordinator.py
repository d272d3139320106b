"""Fixtures and helpers for the coordinator's tests: real brokers, real SQLite, real HTTP.

Import what a test module needs (``from tests.support.coordinator import ...``); pytest
picks the fixtures up from the importing module. Each broker is started by the test on a
free port with its own config, never the system broker on 1883. The names carry a
``coord_`` prefix so they never shadow the suite-wide fixtures of ``conftest.py``.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.broker.embedded import EmbeddedBroker, free_port
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared import wire
from edgewatch.shared.mqtt import BrokerAddress
from edgewatch.shared.schemas import Ack, AgentStatus, ResultBatch
from edgewatch.shared.topics import Kind, Topics

MOSQUITTO = "/usr/sbin/mosquitto"
TOPICS = Topics()
API_MAX_PAYLOAD = 64 * 1024  # small, so the oversized-payload test stays small too
METRICS = ("temperature", "humidity", "pressure", "vibration", "power_consumption")


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@pytest.fixture
def coord_mosquitto(tmp_path: Path) -> Iterator[str]:
    """A real Mosquitto on a free port; yields its ``mqtt://`` URL."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def coord_embedded() -> Iterator[str]:
    """The embedded amqtt broker on a free port; yields its URL."""
    broker = EmbeddedBroker(port=0)
    broker.start()
    try:
        yield broker.url
    finally:
        broker.stop()


@dataclass(frozen=True)
class BrokerRef:
    kind: str
    url: str

    @property
    def mqtt_version(self) -> str:
        """MQTT 5 where the broker speaks it (Mosquitto); amqtt only speaks 3.1.1."""
        return "auto" if self.kind == "mosquitto" else "3.1.1"


@pytest.fixture(params=["embedded", "mosquitto"])
def coord_broker(request: pytest.FixtureRequest) -> BrokerRef:
    """Each test using this runs against both brokers."""
    name = "coord_embedded" if request.param == "embedded" else "coord_mosquitto"
    return BrokerRef(request.param, request.getfixturevalue(name))


def make_settings(tmp_path: Path, broker: str, **overrides: Any) -> CoordinatorSettings:
    values: dict[str, Any] = {
        "broker": broker,
        "db": tmp_path / "coord.db",
        "api_token": secrets.token_urlsafe(24),
        "client_id": "coord-" + secrets.token_hex(4),
        "mqtt_version": "3.1.1",
    }
    values.update(overrides)
    return CoordinatorSettings(**values)


@pytest.fixture
def coord_service(tmp_path: Path, coord_broker: BrokerRef) -> Iterator[CoordinatorService]:
    svc = CoordinatorService(make_settings(tmp_path, coord_broker.url))
    svc.start()
    try:
        assert svc.wait_connected(10), "coordinator never connected"
        yield svc
    finally:
        svc.stop()


def make_batch(
    agent_id: str,
    n: int = 10,
    *,
    epoch: int = 1,
    first_seq: int = 0,
    ts: float | None = None,
    schema_version: Literal[1, 2] = 2,
) -> ResultBatch:
    """A valid batch of ``n`` readings; the last reading lacks ``vibration``."""
    base = time.time() if ts is None else ts
    metrics: dict[str, list[float | None]] = {m: [20.0 + i for i in range(n)] for m in METRICS}
    metrics["vibration"][-1] = None
    return ResultBatch(
        schema_version=schema_version,
        agent_id=agent_id,
        epoch=epoch,
        first_seq=first_seq,
        sensor_id=[f"s-{i % 3}" for i in range(n)],
        sensor_type=["industrial"] * n,
        ts=[base - (n - i) * 0.001 for i in range(n)],
        metrics=metrics,
        status=["normal"] * n,
        label=[0] * n,
        score=[0.1] * n,
        anomaly=[False] * n,
        confidence=[0.9] * n,
        scorer=["rules"] * n,
    )


def rechunk(batch: ResultBatch, start: int, n: int) -> ResultBatch:
    """Readings ``start .. start+n-1`` of ``batch`` as a batch of their own: the same
    readings, cut differently, as a resend after a restart with other batch sizes is."""
    cut = slice(start, start + n)
    columns = ("sensor_id", "sensor_type", "ts", "status", "label", "score", "anomaly")
    data = {c: getattr(batch, c)[cut] for c in (*columns, "confidence", "scorer")}
    return ResultBatch(
        schema_version=batch.schema_version,
        agent_id=batch.agent_id,
        epoch=batch.epoch,
        first_seq=batch.first_seq + start,
        metrics={m: v[cut] for m, v in batch.metrics.items()},
        **data,
    )


def batch_dict(batch: ResultBatch) -> dict[str, Any]:
    return batch.model_dump(mode="python")


@dataclass
class Publisher:
    """A bare paho client (MQTT 3.1.1, works with both brokers) that records acks."""

    url: str
    on_ack: Callable[[Ack], None] | None = None
    acks: list[Ack] = field(default_factory=list)
    client: paho.Client = field(init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        addr = BrokerAddress.parse(self.url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id="pub-" + secrets.token_hex(4),
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.on_message = self._message
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        self.client.subscribe(TOPICS.all_agents(Kind.ACK), 1)

    def _message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        ack = wire.decode_ack(bytes(msg.payload))
        if self.on_ack is not None:
            self.on_ack(ack)
        with self._cond:
            self.acks.append(ack)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def send(self, batch: ResultBatch) -> None:
        self.publish(TOPICS.results(batch.agent_id), orjson.dumps(batch_dict(batch)))

    def wait_acks(self, count: int, agent_id: str, timeout: float = 10.0) -> list[Ack]:
        def mine() -> list[Ack]:
            return [a for a in self.acks if a.agent_id == agent_id]

        with self._cond:
            self._cond.wait_for(lambda: len(mine()) >= count, timeout)
            return mine()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def coord_publisher(coord_broker: BrokerRef) -> Iterator[Publisher]:
    pub = Publisher(coord_broker.url)
    try:
        yield pub
    finally:
        pub.close()


def wait_ready(svc: CoordinatorService, pub: Publisher, timeout: float = 10.0) -> None:
    """Publish a probe status until the coordinator has seen one: its subscriptions hold."""
    probe = "probe-" + secrets.token_hex(3)
    status = orjson.dumps(AgentStatus(agent_id=probe, state="online").model_dump())
    deadline = time.monotonic() + timeout
    while svc.fleet.get(probe) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("coordinator did not see the probe")
        pub.publish(TOPICS.status(probe), status)
        time.sleep(0.05)


def count_rows(db: Path, agent_id: str) -> int:
    """Rows of ``agent_id``, read through a connection of our own (not the store's)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT COUNT(*) FROM readings WHERE agent_id = ?", (agent_id,))
        return int(row.fetchone()[0])


@dataclass
class ApiServer:
    """A coordinator app served by a real uvicorn on a free port, in a thread."""

    base_url: str
    token: str
    settings: CoordinatorSettings
    service: CoordinatorService

    def client(self, token: str | None = "default") -> httpx.Client:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)


def serve(settings: CoordinatorSettings) -> Generator[ApiServer, None, None]:
    """Run ``create_app(settings)`` under uvicorn until the generator is closed."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise TimeoutError("uvicorn did not start")
        time.sleep(0.02)
    service: CoordinatorService = app.state.service
    try:
        assert service.wait_connected(10), "coordinator never connected"
        yield ApiServer(f"http://127.0.0.1:{port}", app.state.api_token, settings, service)
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def coord_api(tmp_path: Path, coord_broker: BrokerRef) -> Iterator[ApiServer]:
    settings = make_settings(
        tmp_path,
        coord_broker.url,
        mqtt_version=coord_broker.mqtt_version,
        max_payload_bytes=API_MAX_PAYLOAD,
    )
    yield from serve(settings)
