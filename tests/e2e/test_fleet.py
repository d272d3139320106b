"""The coordinator coordinates (real Mosquitto, real coordinator and agent processes).

Simulated sensors on their own clock (``--simulated-fleet``), agents following their
desired state (``--source assigned``): the fleet converges; a SIGKILLed agent's sensors
are served again by the others, every reading stored exactly once except the counted
gap; an agent rebooted without uplink resumes its persisted assignment; a stale or
malformed desired state is refused and counted while the agent keeps its last good one.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.shared.topics import Topics
from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import Proc, ProcGroup, free_port, wait_until

SENSORS = 24
RATE_HZ = 4.0
TOPICS = Topics()


def _agent(procs: ProcGroup, agent_id: str, broker: str, tmp: Path, *extra: str) -> Proc:
    return procs.edgewatch(
        "agent",
        "--id",
        agent_id,
        "--broker",
        broker,
        "--mqtt-version",
        "5",
        "--data-dir",
        str(tmp / agent_id),
        "--source",
        "assigned",
        "--heartbeat-s",
        "1",
        "--keepalive",
        "4",
        *extra,
        name=agent_id,
    )


def _fleet(procs: ProcGroup, mosquitto: MosquittoProcess, tmp: Path) -> Coordinator:
    coord = Coordinator(
        procs,
        mosquitto.url,
        "5",
        tmp / "coord",
        extra=(
            "--simulated-fleet",
            str(SENSORS),
            "--sim-rate-hz",
            str(RATE_HZ),
            "--agent-timeout-s",
            "5",
        ),
    )
    return coord.start()


def _active(coord: Coordinator, *, without: str = "") -> Counter[str]:
    """How many agents (other than ``without``) report running each sensor."""
    running: Counter[str] = Counter()
    for agent in coord.api("agents"):
        if agent["id"] != without and agent["state"] == "online" and agent["reported"]:
            running.update(agent["reported"]["active_sensors"])
    return running


def _converged(coord: Coordinator, agents: set[str]) -> bool:
    listed = {a["id"]: a for a in coord.api("agents")}
    return agents <= set(listed) and all(
        listed[a]["converged"] and listed[a]["desired"]["generation"] > 0 for a in agents
    )


def _stored_by_sensor_ts(db: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [(s, float(t)) for s, t in conn.execute("SELECT sensor_id, ts FROM readings")]


@pytest.mark.mosquitto
def test_an_agent_lost_mid_stream_hands_its_sensors_to_the_others(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = _fleet(procs, mosquitto, tmp_path)
    agents = {a: _agent(procs, a, mosquitto.url, tmp_path) for a in ("f1", "f2", "f3")}
    wait_until(lambda: _converged(coord, set(agents)), 30, message="fleet did not converge")
    wait_until(lambda: len(_active(coord)) == SENSORS, 20, message="not all running")
    owned = {a["id"]: set(a["desired"]["sensors"]) for a in coord.api("agents")}
    assert all(owned[a] for a in agents), owned  # every agent got a share
    wait_until(lambda: coord.stored() > SENSORS * RATE_HZ * 2, 30, message="nothing stored")

    before = coord.api("assignments/events?limit=10000")["last_id"]
    # What f2 owns (its desired state may also hold sensors it is still handing over).
    placed = set(coord.api("assignments")["agents"].get("f2", []))
    agents["f2"].kill()  # SIGKILL: its will fires, its sensors must move
    wait_until(
        lambda: set(_active(coord, without="f2")) >= owned["f2"],
        10,
        message="f2's sensors not served by the others within 10 s",
    )

    def f2_moves() -> list[dict[str, Any]]:
        events = coord.api(f"assignments/events?after={before}&limit=10000")["events"]
        return [e for e in events if e["from_agent"] == "f2"]

    # Sensors f2 was handing over may already run elsewhere: wait for the duty's record
    # of the loss itself (its next tick), within the same bound.
    wait_until(lambda: f2_moves() != [], 10, message="no move of f2's sensors recorded")
    moved = coord.api(f"assignments/events?after={before}&limit=10000")["events"]
    assert {e["sensor_id"] for e in moved if e["from_agent"] == "f2"} == placed
    assert {e["reason"] for e in moved if e["from_agent"] == "f2"} == {"agent_lost"}
    # Let the survivors run a while, then stop them cleanly (they drain their outboxes).
    wait_until(lambda: coord.stored() > SENSORS * RATE_HZ * 8, 30, message="no progress")
    for a in ("f1", "f3"):
        assert agents[a].terminate() == 0

    # Exactly once: no (sensor, ts) stored twice, and per sensor, stored + gap = what
    # its clock made due between its first and last stored reading.
    rows = _stored_by_sensor_ts(coord.db)
    assert len(rows) == len(set(rows)), "a reading was stored twice"
    sensors = {s["sensor_id"]: s for s in coord.api("sensors")}
    assert len(sensors) == SENSORS
    gaps = {sid: s["gap"] for sid, s in sensors.items()}
    for s in sensors.values():
        assert s["activity"]["readings"] + s["gap"] == s["expected"], s
    # Only f2's sensors can have a gap: nobody read them between the kill and the move.
    assert {sid for sid, g in gaps.items() if g} <= owned["f2"], (gaps, sorted(owned["f2"]))
    assert sum(gaps.values()) <= len(owned["f2"]) * RATE_HZ * 8  # a bounded, counted gap


@pytest.mark.mosquitto
def test_a_rebooted_agent_without_uplink_resumes_its_assignment(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = _fleet(procs, mosquitto, tmp_path)
    agent = _agent(procs, "r1", mosquitto.url, tmp_path)
    wait_until(lambda: _converged(coord, {"r1"}), 30, message="did not converge")
    assert agent.terminate() == 0
    # Rebooted where the broker cannot be reached: it must run what it was told anyway.
    dead = f"mqtt://127.0.0.1:{free_port()}"
    again = _agent(procs, "r1", dead, tmp_path)
    again.wait_for_log(r"applied desired state generation \d+: 24 sensor\(s\)", 20)
    outbox = tmp_path / "r1" / "outbox.db"

    def waiting() -> int:
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COALESCE(SUM(n), 0) FROM chunks").fetchone()[0])

    wait_until(lambda: waiting() > SENSORS * RATE_HZ, 20, message="it scored nothing offline")


@pytest.mark.mosquitto
def test_stale_and_malformed_desired_states_are_refused_and_counted(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = _fleet(procs, mosquitto, tmp_path)
    _agent(procs, "s1", mosquitto.url, tmp_path)
    wait_until(lambda: _converged(coord, {"s1"}), 30, message="did not converge")
    good = coord.api("agents/s1")
    client = paho.Client(CallbackAPIVersion.VERSION2, "forger", protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        stale: dict[str, Any] = {
            "schema_version": 2,
            "agent_id": "s1",
            "generation": 1,
            "issued_at": 1_800_000_000.0,
            "sensors": [],
        }

        def refused() -> dict[str, int]:
            reported = coord.api("agents/s1")["reported"] or {}
            return dict(reported.get("refused", {}))

        bad = (orjson.dumps(stale), b'{"schema_version": 2, "agent_id": "s1"}', b"\xff")
        for n, payload in enumerate(bad, start=1):
            # One at a time: the agent keeps only the newest desired state it was sent.
            client.publish(TOPICS.desired("s1"), payload, qos=1).wait_for_publish(5)
            wait_until(lambda n=n: sum(refused().values()) >= n, 15, message=f"refusal {n}")
        assert refused() == {"stale": 1, "missing_field": 1, "utf8": 1}
        now = coord.api("agents/s1")
        # Still running its last good assignment, still converged with the coordinator.
        assert now["reported"]["generation"] == good["reported"]["generation"]
        assert sorted(now["reported"]["active_sensors"]) == sorted(good["desired"]["sensors"])
        assert now["converged"]
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.mosquitto
def test_a_planned_rebalance_of_site_sensors_loses_and_doubles_nothing(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    """Site sensors (fed by ``edgewatch simulate`` as real ones would be) move to a
    joining agent by handover: the new owner subscribes before the old one lets go, and
    the overlap is dropped by (sensor_id, ts). Every published reading stored once."""
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    sensors, rate, count = 12, 5.0, 150
    catalog = [
        {
            "sensor_id": f"SENSOR_{i:03d}",
            "sensor_type": "industrial",
            "source": {"kind": "site", "topic": f"site/sensors/SENSOR_{i:03d}", "rate_hz": rate},
        }
        for i in range(sensors)
    ]
    coord.post("sensors", catalog)
    site = ("--site-broker", mosquitto.url)
    agents = {a: _agent(procs, a, mosquitto.url, tmp_path, *site) for a in ("h1", "h2")}
    wait_until(lambda: _converged(coord, set(agents)), 30, message="did not converge")
    wait_until(lambda: len(_active(coord)) == sensors, 20, message="not all running")
    # Readings carry the sensor's own clock: reading j at t0 + j / rate, from t0 on.
    t0 = float(int(time.time()) + 1)
    simulate = procs.edgewatch(
        "simulate",
        "--broker",
        mosquitto.url,
        "--sensors",
        str(sensors),
        "--rate",
        str(rate),
        "--count-per-sensor",
        str(count),
        "--seed",
        "3",
        "--t0",
        str(t0),
        name="simulate",
    )
    wait_until(lambda: coord.stored() >= sensors * rate * 3, 30, message="nothing stored")
    agents["h3"] = _agent(procs, "h3", mosquitto.url, tmp_path, *site)  # joins mid-stream
    wait_until(lambda: _converged(coord, set(agents)), 30, message="did not converge again")
    moved = [e for e in coord.api("assignments/events?limit=10000")["events"]]
    assert any(e["to_agent"] == "h3" and e["reason"] == "agent_joined" for e in moved)
    assert simulate.wait(90) == 0
    wait_until(lambda: coord.stored() >= sensors * count, 30, message="readings missing")
    for proc in agents.values():
        assert proc.terminate() == 0
    rows = _stored_by_sensor_ts(coord.db)
    assert len(rows) == len(set(rows)), "a reading was stored twice"
    # What simulate published: `count` consecutive readings of each sensor's clock,
    # from the reading due when it started (t0 + j / rate, j >= 0).
    by_sensor: dict[str, list[int]] = {}
    for s, ts in rows:
        by_sensor.setdefault(s, []).append(round((ts - t0) * rate))
    assert sorted(by_sensor) == [f"SENSOR_{i:03d}" for i in range(sensors)]
    for s, js in by_sensor.items():
        first = min(js)
        missing = set(range(first, first + count)) - set(js)
        assert sorted(js) == list(range(first, first + count)), (s, sorted(missing))
    stats = coord.api("stats")
    assert stats["rejected"] == {}
    # Both owners read the moved sensors for a moment: the overlap was seen, and dropped.
    assert stats["handover_duplicates"] > 0
