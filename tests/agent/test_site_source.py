"""Site sensors through a real Mosquitto: readings arrive, bad payloads are counted, never raised.

Each test publishes with a bare paho client (``MqttProbe``), never the product's own
link, under a topic prefix of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import orjson
import pytest

from edgewatch.agent.sources.assigned import AssignedSource
from edgewatch.agent.sources.site import MAX_PAYLOAD_BYTES, SiteReader
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.desired import AssignedSensor, SimulatedSource, SiteSource
from edgewatch.shared.mqtt import BrokerAddress
from edgewatch.shared.readings import ReadingBatch
from tests.support.mosquitto import MosquittoProcess, MqttProbe
from tests.support.procs import wait_until

pytestmark = pytest.mark.mosquitto
TS = 1_767_225_600.0
WALL = 1_800_000_000.0


class Site:
    """A site broker, an agent's assigned source reading it, and a sensor-side publisher."""

    def __init__(self, broker: MosquittoProcess) -> None:
        self.prefix = f"site-{uuid.uuid4().hex[:8]}"
        self.clock = ManualClock(wall=WALL)
        self.reader = SiteReader(
            BrokerAddress.parse(broker.url), client_id=f"agent-{self.prefix}", clock=self.clock
        )
        self.source = AssignedSource(site=self.reader, clock=self.clock)
        self.sensors: list[str] = []
        self.probe = MqttProbe(broker.host, broker.port).start()
        self.got: list[ReadingBatch] = []
        self._marks = 0
        self.reader.start()
        assert self.reader.wait_connected(10)

    def topic(self, sensor_id: str) -> str:
        return f"{self.prefix}/{sensor_id}"

    def assign(self, *sensor_ids: str) -> None:
        """Assign ``sensor_ids`` and wait until the broker delivers to each of them."""
        self.sensors = list(sensor_ids)
        sensors = [
            AssignedSensor(
                sensor_id=s, sensor_type="pump", source=SiteSource(topic=self.topic(s), rate_hz=1)
            )
            for s in sensor_ids
        ]
        assert self.source.apply(sensors) == []
        for s in sensor_ids:
            self.mark(s)

    def mark(self, sensor_id: str) -> None:
        """Publish a marker reading until it arrives: the subscription is live after it."""
        self._marks += 1
        marker = float(self._marks)

        def arrived() -> bool:
            self.publish(sensor_id, {"metrics": {"marker": marker}})
            return any(
                sid == sensor_id and m == marker
                for b in self.take()
                if "marker" in b.metrics
                for sid, m in zip(b.sensor_id, b.metrics["marker"].tolist(), strict=True)
            )

        wait_until(arrived, 10, interval=0.2, message=f"{sensor_id}: subscription never live")

    def publish(self, sensor_id: str, payload: object) -> None:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.probe.publish(self.topic(sensor_id), data)

    def take(self) -> list[ReadingBatch]:
        while len(batch := self.source.poll(500)):
            self.got.append(batch)
        return self.got

    def readings(self, sensor_id: str) -> list[tuple[float, dict[str, float]]]:
        """``(ts, metrics)`` of every reading of ``sensor_id`` so far, markers left out."""
        out = []
        for b in self.got:
            for i, sid in enumerate(b.sensor_id):
                metrics = {m: float(v[i]) for m, v in b.metrics.items() if v[i] == v[i]}
                if sid == sensor_id and "marker" not in metrics:
                    out.append((float(b.ts[i]), metrics))
        return out

    def wait_for(self, sensor_id: str, n: int) -> list[tuple[float, dict[str, float]]]:
        wait_until(
            lambda: self.take() and len(self.readings(sensor_id)) >= n,
            10,
            interval=0.02,
            message=f"{sensor_id}: fewer than {n} readings arrived",
        )
        return self.readings(sensor_id)

    def close(self) -> None:
        self.probe.stop()
        self.source.close()


@pytest.fixture
def site(mosquitto: MosquittoProcess) -> Iterator[Site]:
    s = Site(mosquitto)
    yield s
    s.close()


def test_readings_published_by_a_sensor_arrive(site: Site) -> None:
    site.assign("pump-7")
    site.publish("pump-7", {"ts": TS, "metrics": {"temperature": 21.5}, "status": "normal"})
    burst = [{"ts": TS + k, "metrics": {"pressure": 1000.0 + k}, "label": k % 2} for k in (1, 2)]
    site.publish("pump-7", burst)
    got = site.wait_for("pump-7", 3)
    assert got == [
        (TS, {"temperature": 21.5}),
        (TS + 1, {"pressure": 1001.0}),
        (TS + 2, {"pressure": 1002.0}),
    ]
    batch = ReadingBatch.concat(site.got)
    markers = batch.metrics["marker"].tolist()
    real = [i for i, m in enumerate(markers) if m != m]  # NaN: not a marker
    assert set(batch.sensor_type) == {"pump"}  # from the assignment, not the payload
    assert [batch.status[i] for i in real] == ["normal", None, None]
    assert [batch.label[i] for i in real] == [None, 1, 0]
    assert site.source.active() == ["pump-7"] and site.source.bad_payloads() == {}


def test_gaps_of_a_site_sensor_are_counted_at_its_nominal_rate(site: Site) -> None:
    site.assign("meter-1")  # rate_hz 1
    for dt in (1, 2, 3, 7, 8):  # 4, 5 and 6 never came (0: the marker, stamped at WALL)
        site.publish("meter-1", {"ts": WALL + dt, "metrics": {"kwh": 1.0}})
    site.wait_for("meter-1", 5)
    assert site.source.counters().gaps == {"meter-1": 3}


def test_site_and_simulated_readings_come_in_ts_order_none_lost(site: Site) -> None:
    site.assign("pump-1")
    simulated = AssignedSensor(
        sensor_id="SENSOR_001",
        sensor_type="medical",
        source=SimulatedSource(seed=3, number=1, rate_hz=1.0, t0=WALL),
    )
    site_sensor = AssignedSensor(
        sensor_id="pump-1", sensor_type="pump", source=SiteSource(topic=site.topic("pump-1"))
    )
    assert site.source.apply([simulated, site_sensor]) == []
    site.got.clear()
    site.publish("pump-1", [{"ts": WALL + k + 0.5, "metrics": {"t": float(k)}} for k in range(6)])
    wait_until(lambda: site.reader.pending, 10, interval=0.01, message="the burst never came")
    site.clock.advance(5.0)  # simulated readings at WALL + 0 .. 5
    polled = []
    while len(batch := site.source.poll(2)):
        assert len(batch) <= 2
        polled.append(batch)
    every = ReadingBatch.concat(polled)
    marker = every.metrics.get("marker", np.full(len(every), np.nan)).tolist()
    real = [
        (s, t)
        for s, t, m in zip(every.sensor_id, every.ts.tolist(), marker, strict=True)
        if m != m  # NaN: not a marker
    ]
    expected = sorted(
        [("SENSOR_001", WALL + k) for k in range(6)]
        + [("pump-1", WALL + k + 0.5) for k in range(6)],
        key=lambda r: r[1],
    )
    assert real == expected


def test_a_reading_without_ts_is_stamped_on_arrival(site: Site) -> None:
    site.assign("fan-1")
    site.clock.advance(42.0)
    site.publish("fan-1", {"metrics": {"rpm": 1200}})  # an int is a number too
    assert site.wait_for("fan-1", 1) == [(WALL + 42.0, {"rpm": 1200.0})]


BAD = {
    "json": b"{not json",
    "utf8": b'{"metrics": {"t": 1}}\xff',
    "non_finite": b'{"metrics": {"t": NaN}}',
    "ts_range": orjson.dumps({"ts": 1_767_225_600_000, "metrics": {"t": 1.0}}),  # ms for s
    "extra_field": orjson.dumps({"metrics": {"t": 1.0}, "unit": "C"}),
    "wrong_type": orjson.dumps({"metrics": {"t": "21.5"}}),
    "bad_value": orjson.dumps({"metrics": {"t#1": 1.0}}),
    "missing_field": orjson.dumps({"ts": TS}),
    "too_large": orjson.dumps({"metrics": {"t": 1.0}, "pad": "x" * MAX_PAYLOAD_BYTES}),
    "schema": b"[]",
}


def test_bad_payloads_are_counted_per_sensor_by_reason_and_never_raise(site: Site) -> None:
    site.assign("ok-1", "bad-1")
    for payload in BAD.values():
        site.publish("bad-1", payload)
    site.publish("bad-1", BAD["json"])
    site.publish("bad-1", {"ts": TS, "metrics": {"t": 5.0}})  # after the bad ones: a sentinel
    site.publish("ok-1", {"ts": TS, "metrics": {"t": 6.0}})
    assert site.wait_for("bad-1", 1) == [(TS, {"t": 5.0})]
    assert site.wait_for("ok-1", 1) == [(TS, {"t": 6.0})]
    expected = dict.fromkeys(BAD, 1) | {"json": 2}
    assert site.source.bad_payloads() == {"bad-1": expected}
    assert site.source.counters().bad_payloads == {"bad-1": expected}


def test_a_removed_sensor_stops_arriving(site: Site) -> None:
    site.assign("a-1", "b-1")
    site.assign("b-1")
    site.publish("a-1", {"ts": TS, "metrics": {"t": 1.0}})
    site.publish("b-1", {"ts": TS, "metrics": {"t": 2.0}})
    site.mark("b-1")  # one connection, in order: what came before the marker is in
    assert site.readings("b-1") == [(TS, {"t": 2.0})]
    assert site.readings("a-1") == [] and site.source.active() == ["b-1"]


def test_retained_copies_are_old_readings_and_skipped(site: Site) -> None:
    retained = orjson.dumps({"ts": TS - 100, "metrics": {"t": 9.0}})
    site.probe.client.publish(site.topic("dev-1"), retained, qos=1, retain=True).wait_for_publish(5)
    site.assign("dev-1")
    site.publish("dev-1", {"ts": TS, "metrics": {"t": 1.0}})
    assert site.wait_for("dev-1", 1) == [(TS, {"t": 1.0})]
    assert site.source.counters().site_retained >= 1


def test_a_reconnect_keeps_the_subscriptions_even_those_made_while_down(
    site: Site, mosquitto: MosquittoProcess
) -> None:
    site.assign("a-1")
    mosquitto.kill()
    wait_until(lambda: not site.reader.connected, 10, message="reader never saw the broker go")
    site.source.apply(
        [
            AssignedSensor(sensor_id=s, sensor_type="pump", source=SiteSource(topic=site.topic(s)))
            for s in ("a-1", "b-1")
        ]
    )
    mosquitto.restart()
    wait_until(lambda: site.reader.connected and site.probe.connects >= 2, 15)
    site.mark("a-1")  # both subscribed again by the link itself, nobody re-assigned
    site.mark("b-1")
    site.publish("b-1", {"ts": TS, "metrics": {"t": 2.0}})
    assert site.wait_for("b-1", 1) == [(TS, {"t": 2.0})]


def test_two_sensors_on_one_topic_are_refused(site: Site) -> None:
    same = SiteSource(topic=site.topic("shared"))
    sensors = [AssignedSensor(sensor_id=s, sensor_type="pump", source=same) for s in ("x-1", "x-2")]
    assert site.source.check(sensors) == [f"sensor x-2: topic {same.topic} is x-1's already"]
