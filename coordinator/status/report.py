"""The fleet's state as ``edgewatch status`` reports it, from the API's answers (pure).

Something **needs attention** when an operator should act: the coordinator is not ready,
an agent is offline or lost, stuck behind its desired state, reports a condition (disk
full, a recovered outbox ...), or holds results older than ``backlog_s`` unsent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


class AgentLine(BaseModel):
    id: str
    state: str
    tier: str | None
    cpu_percent: float | None
    memory_percent: float | None
    battery_percent: float | None
    sensors_active: int | None
    sensors_desired: int
    outbox_rows: int | None
    outbox_oldest_age_s: float | None
    models: dict[str, int]
    sync: str  # "in sync", "applying", "stuck"
    heartbeat_age_s: float | None
    conditions: list[str]


class Status(BaseModel):
    api: str
    ready: bool
    broker_connected: bool
    mqtt_protocol: str | None
    ingest_readings_per_s: float
    readings_stored: int
    anomalies_stored: int
    rejected: int
    agents: list[AgentLine]
    attention: list[str]


@dataclass(frozen=True)
class Thresholds:
    backlog_s: float = 60.0


@dataclass
class _Attention:
    notes: list[str] = field(default_factory=list)

    def add(self, note: str) -> None:
        self.notes.append(note)


def agent_line(agent: dict[str, Any], now: float) -> AgentLine:
    beat: dict[str, Any] = agent.get("heartbeat") or {}
    reported = agent.get("reported") or None
    heartbeat_at = agent.get("last_heartbeat_at")
    return AgentLine(
        id=agent["id"],
        state=agent["state"],
        tier=agent.get("tier"),
        cpu_percent=beat.get("cpu_percent"),
        memory_percent=beat.get("memory_percent"),
        battery_percent=beat.get("battery_percent"),
        sensors_active=None if reported is None else len(reported["active_sensors"]),
        sensors_desired=len(agent["desired"]["sensors"]),
        outbox_rows=agent.get("outbox_rows"),
        outbox_oldest_age_s=beat.get("outbox_oldest_age_s"),
        models={t: m["version"] for t, m in sorted((agent.get("models") or {}).items())},
        sync="stuck" if agent["stuck"] else "in sync" if agent["converged"] else "applying",
        heartbeat_age_s=None if heartbeat_at is None else max(0.0, now - heartbeat_at),
        conditions=list(beat.get("conditions") or []),
    )


def build_status(
    api: str,
    ready: dict[str, Any],
    stats: dict[str, Any],
    agents: list[dict[str, Any]],
    now: float,
    thresholds: Thresholds = Thresholds(),
) -> Status:
    lines = [agent_line(a, now) for a in sorted(agents, key=lambda a: str(a["id"]))]
    attention = _Attention()
    if ready.get("status") != "ready":
        missing = [w for w, ok in (("broker", ready.get("broker_connected")),
                                   ("store", ready.get("db_ok"))) if not ok]  # fmt: skip
        attention.add(f"coordinator not ready ({', '.join(missing) or 'unknown'} down)")
    for a in lines:
        if a.state != "online":
            attention.add(f"{a.id} is {a.state}")
        if a.sync == "stuck":
            attention.add(f"{a.id} is stuck behind its desired state")
        for c in a.conditions:
            attention.add(f"{a.id} reports {c}")
        oldest = a.outbox_oldest_age_s
        if a.state == "online" and oldest is not None and oldest > thresholds.backlog_s:
            attention.add(f"{a.id} holds results {oldest:.0f} s old unsent")
    return Status(
        api=api,
        ready=ready.get("status") == "ready",
        broker_connected=bool(ready.get("broker_connected")),
        mqtt_protocol=ready.get("mqtt_protocol"),
        ingest_readings_per_s=float(stats.get("ingest_readings_per_s") or 0.0),
        readings_stored=int(stats.get("readings_stored") or 0),
        anomalies_stored=int(stats.get("anomalies_stored") or 0),
        rejected=sum(int(v) for v in (stats.get("rejected") or {}).values()),
        agents=lines,
        attention=attention.notes,
    )
