"""coordinator.status.report: what needs attention, from the API's answers."""

from __future__ import annotations

from typing import Any

from edgewatch.coordinator.status.report import Thresholds, build_status
from edgewatch.coordinator.status.table import render

READY = {"status": "ready", "broker_connected": True, "mqtt_protocol": "5", "db_ok": True}
STATS = {"ingest_readings_per_s": 250.0, "readings_stored": 1234, "anomalies_stored": 12,
         "rejected": {"json": 2, "schema": 1}}  # fmt: skip


def agent(agent_id: str, **changes: Any) -> dict[str, Any]:
    beat = {"cpu_percent": 12.0, "memory_percent": 30.0, "battery_percent": None,
            "outbox_oldest_age_s": 0.2, "conditions": []}  # fmt: skip
    beat.update(changes.pop("beat", {}))
    base: dict[str, Any] = {
        "id": agent_id, "state": "online", "tier": "low", "heartbeat": beat,
        "reported": {"active_sensors": ["s1", "s2"]}, "desired": {"sensors": ["s1", "s2"]},
        "outbox_rows": 3, "models": {"pump": {"version": 4, "sha256": "0" * 64}},
        "converged": True, "stuck": False, "last_heartbeat_at": 995.0,
    }  # fmt: skip
    base.update(changes)
    return base


def test_a_healthy_fleet_needs_nobody() -> None:
    status = build_status("http://x", READY, STATS, [agent("b"), agent("a")], now=1000.0)
    assert status.attention == [] and status.rejected == 3
    assert [a.id for a in status.agents] == ["a", "b"]
    line = status.agents[0]
    assert (line.sensors_active, line.sensors_desired, line.models, line.sync) == (
        2, 2, {"pump": 4}, "in sync",
    )  # fmt: skip
    assert line.heartbeat_age_s == 5.0
    text = render(status)
    assert "all well" in text and "pump@4" in text and "1,234" in text


def test_each_thing_an_operator_must_act_on_is_named() -> None:
    agents = [
        agent("off", state="offline"),
        agent("stuck", converged=False, stuck=True),
        agent("full", beat={"conditions": ["disk_full"]}),
        agent("backlog", beat={"outbox_oldest_age_s": 600.0}),
        agent("applying", converged=False),
    ]
    not_ready = {"status": "not_ready", "broker_connected": False, "db_ok": True}
    status = build_status("http://x", not_ready, STATS, agents, 1000.0, Thresholds(60.0))
    assert status.attention == [
        "coordinator not ready (broker down)",
        "backlog holds results 600 s old unsent",
        "full reports disk_full",
        "off is offline",
        "stuck is stuck behind its desired state",
    ]
    assert "needs attention (5)" in render(status) and "NOT READY" in render(status)


def test_an_agent_before_its_first_heartbeat_shows_dashes() -> None:
    bare = agent("new", heartbeat=None, reported=None, last_heartbeat_at=None, outbox_rows=None)
    status = build_status("http://x", READY, STATS, [bare], 1000.0)
    assert status.attention == []
    assert "new" in render(status) and "-/2" in render(status)
