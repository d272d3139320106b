"""Alerts end to end through real processes and a real Mosquitto.

An agent whose uplink is down from the start finds critical anomalies on its own,
publishes them locally at once (``alerts.jsonl``), keeps them in its outbox, and when the
link comes back the coordinator stores every one of those events exactly once and shows
one alert per sensor, seen by the edge and by its own rules.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.edgewatch import AgentRun, Coordinator
from tests.support.faultproxy import ProxyFactory
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until


def _local(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _edge_seqs(db: Path, agent_id: str) -> list[int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT seq FROM edge_alert_events WHERE agent_id = ? ORDER BY seq", (agent_id,)
        )
        return [int(r[0]) for r in rows]


@pytest.mark.mosquitto
def test_an_edge_alert_raised_while_the_uplink_is_down_arrives_exactly_once(
    mosquitto: MosquittoProcess, procs: ProcGroup, fault_proxy: ProxyFactory, tmp_path: Path
) -> None:
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    proxy = fault_proxy(mosquitto.host, mosquitto.port)
    proxy.reset()  # the uplink is down before the agent ever connects
    agent = AgentRun(
        procs,
        "edge-1",
        f"mqtt://{proxy.host}:{proxy.port}",
        "5",
        tmp_path,
        count=3000,
        rate=1000.0,
        extra=("--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()
    jsonl = agent.data_dir / "alerts.jsonl"
    wait_until(lambda: agent.outbox()["next_seq"] >= 3000, 30, message="agent did not score")
    local = _local(jsonl)
    raised = [a for a in local if a["verdict"] == "raise" and a["rule"] == "critical_anomaly"]
    assert raised, "no critical anomaly published locally while the uplink was down"
    assert _edge_seqs(coord.db, "edge-1") == []  # nothing went through the cut link

    proxy.restore()
    assert agent.proc is not None and agent.proc.wait(90) == 0, "agent did not drain"
    local = _local(jsonl)
    # Every event the agent published locally is stored once, in its own sequence.
    assert _edge_seqs(coord.db, "edge-1") == sorted(a["seq"] for a in local)
    alerts = coord.api("alerts?rule=critical_anomaly&limit=10000")["alerts"]
    edge_alerts = [a for a in alerts if "edge:edge-1" in a["sources"]]
    keys = [a["key"] for a in edge_alerts]
    assert len(keys) == len(set(keys)), "one sensor's edge alert stored twice"
    assert {f"critical_anomaly/sensor:{a['sensor_id']}" for a in raised} <= set(keys)
    # The coordinator's own rule saw the same readings: one alert, both sources.
    assert all("cloud" in a["sources"] for a in edge_alerts)


@pytest.mark.slow
@pytest.mark.mosquitto
def test_a_killed_agent_and_simulated_anomalies_raise_their_alerts(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    """Real processes: the simulator's injected anomalies raise ``critical_anomaly``; a
    SIGKILLed agent raises ``agent_offline`` and, one of two, ``fleet_availability``."""
    coord = Coordinator(
        procs, mosquitto.url, "5", tmp_path / "coord", extra=("--agent-timeout-s", "3")
    ).start()
    agents = [
        AgentRun(
            procs, f"k{i}", mosquitto.url, "5", tmp_path, count=10**7, rate=200.0, seed=i
        ).start()
        for i in (1, 2)
    ]

    def active() -> set[str]:
        return {a["key"] for a in coord.api("alerts?state=active")["alerts"]}

    wait_until(
        lambda: any(k.startswith("critical_anomaly/") for k in active()),
        30,
        message="no critical_anomaly from the simulator's episodes",
    )
    assert agents[1].proc is not None
    agents[1].proc.kill()
    wait_until(
        lambda: {"agent_offline/agent:k2", "fleet_availability/fleet"} <= active(),
        45,
        message="killing an agent raised neither agent_offline nor fleet_availability",
    )
    assert "agent_offline/agent:k1" not in active()
