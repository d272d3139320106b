"""``edgewatch simulate`` as a real process publishing to a real Mosquitto."""

from __future__ import annotations

import queue
import re
import signal
import time
import uuid
from collections import defaultdict

import orjson
import pytest

from edgewatch.agent.sources.fleet_model import build_fleet
from edgewatch.agent.sources.sensor_clock import SensorClockStream
from edgewatch.agent.sources.site import parse_payload
from edgewatch.shared.desired import SimulatedSource
from edgewatch.shared.readings import SIM_METRICS
from tests.support.mosquitto import MosquittoProcess, MqttProbe
from tests.support.procs import Proc, ProcGroup

pytestmark = pytest.mark.mosquitto
SEED = 4242


def subscriber(broker: MosquittoProcess, prefix: str) -> MqttProbe:
    probe = MqttProbe(broker.host, broker.port).start()
    probe.subscribe(f"{prefix}/#")
    return probe


def receive(probe: MqttProbe, messages: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
    """``messages`` messages (waiting for them), and any more already there."""
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < messages:
        try:
            got.append(probe.messages.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"{len(got)} of {messages} messages arrived") from None
    while not probe.messages.empty():
        got.append(probe.messages.get_nowait())
    return got


def done_line(proc: Proc) -> tuple[int, int]:
    """(readings, messages) of the process's last line, once it has exited."""
    match = re.search(r"simulate: done: (\d+) readings in (\d+) messages", proc.log_text())
    assert match, proc.tail(20)
    return int(match.group(1)), int(match.group(2))


def by_topic(messages: list[tuple[str, bytes]]) -> dict[str, list[dict[str, object]]]:
    """Every reading per topic, each payload checked against the site payload schema."""
    out: dict[str, list[dict[str, object]]] = defaultdict(list)
    for topic, payload in messages:
        parse_payload(payload)  # raises on anything an agent would refuse
        data = orjson.loads(payload)
        out[topic].extend(data if isinstance(data, list) else [data])
    return out


def test_it_publishes_each_sensor_on_its_own_topic_and_clock(
    mosquitto: MosquittoProcess, procs: ProcGroup
) -> None:
    prefix = f"site-{uuid.uuid4().hex[:8]}/sensors"
    probe = subscriber(mosquitto, prefix)
    t0 = float(int(time.time()))
    started = time.monotonic()
    proc = procs.edgewatch(
        "simulate", "--broker", mosquitto.url, "--sensors", "3", "--sensor-offset", "5",
        "--seed", str(SEED), "--rate", "4", "--t0", str(t0), "--count-per-sensor", "8",
        "--topic-prefix", prefix, name="simulate",
    )  # fmt: skip
    assert proc.wait(30) == 0
    elapsed = time.monotonic() - started
    assert done_line(proc) == (24, 24)  # one reading per message: each fell due alone
    got = by_topic(receive(probe, 24))
    probe.stop()
    ids = [s.sensor_id for s in build_fleet(SEED, 3, 5).sensors]
    assert sorted(got) == [f"{prefix}/{sid}" for sid in ids]
    for number, sid in enumerate(ids, start=5):
        readings = got[f"{prefix}/{sid}"]
        assert len(readings) == 8
        ts = [r["ts"] for r in readings]
        j0 = round((float(ts[0]) - t0) * 4)  # type: ignore[arg-type]
        assert ts == [t0 + j / 4 for j in range(j0, j0 + 8)]  # the sensor's own clock
        # The same readings an agent simulating this sensor itself would make.
        source = SimulatedSource(seed=SEED, number=number, rate_hz=4.0, t0=t0)
        mine = SensorClockStream(source, sid).readings(j0, j0 + 8)
        for name in SIM_METRICS:
            assert [r["metrics"][name] for r in readings] == mine.metrics[name].tolist()  # type: ignore[index]
        assert [r["status"] for r in readings] == mine.status
        assert [r["label"] for r in readings] == mine.label
    # Paced: 8 readings at 4 Hz take at least 1.75 s (generous bounds, counts do the rest).
    assert 1.5 < elapsed < 30
    log = proc.log_text()
    assert f"SENSOR_005..SENSOR_007 (3 sensors, 4 Hz each, seed {SEED}" in log
    assert f"-> {mosquitto.url} {prefix}/<sensor_id>" in log


def test_ctrl_c_stops_it_cleanly(mosquitto: MosquittoProcess, procs: ProcGroup) -> None:
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    probe = subscriber(mosquitto, prefix)
    proc = procs.edgewatch(
        "simulate", "--broker", mosquitto.url, "--sensors", "2", "--rate", "20",
        "--topic-prefix", prefix, name="simulate",
    )  # fmt: skip
    first = probe.expect(lambda topic, payload: True, timeout=15)
    proc.kill(signal.SIGINT)
    assert proc.wait(15) == 0
    readings, messages = done_line(proc)
    got = by_topic(first + receive(probe, messages - len(first)))  # all it counted arrive
    probe.stop()
    assert sum(len(r) for r in got.values()) == readings > 0
    assert "Traceback" not in proc.log_text()


def test_duration_ends_the_run(mosquitto: MosquittoProcess, procs: ProcGroup) -> None:
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    probe = subscriber(mosquitto, prefix)
    proc = procs.edgewatch(
        "simulate", "--broker", mosquitto.url, "--sensors", "2", "--rate", "5",
        "--duration", "1.5", "--topic-prefix", prefix, name="simulate",
    )  # fmt: skip
    assert proc.wait(30) == 0
    readings, messages = done_line(proc)
    got = by_topic(receive(probe, messages))
    probe.stop()
    # 1.5 s at 5 Hz: about 7 readings per sensor (bounds generous for a slow machine).
    assert len(got) == 2 and all(3 <= len(r) <= 10 for r in got.values())
    assert sum(len(r) for r in got.values()) == readings


def test_bad_flags_say_what_is_wrong(procs: ProcGroup) -> None:
    proc = procs.edgewatch(
        "simulate", "--broker", "mqtt://127.0.0.1:9", "--rate", "0", name="simulate"
    )
    assert proc.wait(30) == 2
    assert "edgewatch simulate: bad sensor settings (rate_hz)" in proc.log_text()
