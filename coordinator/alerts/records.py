"""Alerts as the store keeps them: the alert, its history, silences, edge receipts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
AlertState = Literal["open", "acknowledged", "cleared"]
ChangeKind = Literal["raise", "clear", "ack", "update"]
EventKind = Literal["raised", "acknowledged", "cleared", "updated"]


def dedupe_key(rule: str, scope: str) -> str:
    """One alert per rule and scope at a time: ``high_anomaly_rate/sensor:S1``."""
    return f"{rule}/{scope}"


@dataclass(frozen=True)
class Alert:
    """One alert. ``key`` is its dedupe key; at most one alert per key is not cleared."""

    id: int
    key: str
    rule: str
    scope: str
    severity: Severity
    state: AlertState
    value: float | None
    message: str
    raised_at: float
    updated_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    cleared_at: float | None = None
    cleared_by: str | None = None
    # Who saw it: "cloud" (the coordinator's rules) and/or "edge:<agent_id>".
    sources: tuple[str, ...] = ()
    silenced: bool = False

    @property
    def active(self) -> bool:
        return self.state != "cleared"


@dataclass(frozen=True)
class AlertEvent:
    """One entry of an alert's history (and one MQTT event)."""

    id: int
    alert_id: int
    at: float
    kind: EventKind
    actor: str
    value: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Change:
    """What the engine asks the store to do to the alert of ``key`` (``alert_id`` for a
    person's ack or clear). ``actor``: ``rule``, ``edge:<agent>``, or a person's name."""

    kind: ChangeKind
    key: str
    rule: str
    scope: str
    severity: Severity
    at: float
    actor: str
    value: float | None = None
    message: str = ""
    source: str = "cloud"
    silenced: bool = False
    alert_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Transition:
    """A change the store carried out: the alert as it is now, and the history entry."""

    alert: Alert
    event: AlertEvent


@dataclass(frozen=True)
class AlertQuery:
    state: AlertState | Literal["active"] | None = None
    rule: str | None = None
    scope: str | None = None
    severity: Severity | None = None
    since: float | None = None
    limit: int = 1000


@dataclass(frozen=True)
class Silence:
    """Mute ``rule`` (any rule if None) on ``scope`` (any scope if None) until ``ends_at``:
    alerts still open, are stored and published, flagged ``silenced``; no webhook fires."""

    id: int
    rule: str | None
    scope: str | None
    starts_at: float
    ends_at: float
    reason: str
    created_by: str

    def covers(self, rule: str, scope: str, at: float) -> bool:
        return (
            self.starts_at <= at < self.ends_at
            and (self.rule is None or self.rule == rule)
            and (self.scope is None or self.scope == scope)
        )


@dataclass(frozen=True)
class EdgeReceipt:
    """An edge alert event as received: its place in the agent's alert sequence."""

    agent_id: str
    epoch: int
    seq: int
    received_at: float
    payload: bytes


@dataclass(frozen=True)
class CriticalReading:
    """A stored reading judged anomalous with high confidence (``critical_anomaly``)."""

    sensor_id: str
    sensor_type: str
    agent_id: str
    ts: float
    confidence: float
    scorer: str
