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
