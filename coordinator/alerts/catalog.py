"""What alert rules can watch (``METRICS``), what a rule is (``Rule``), and the defaults.

The defaults are the original notebook's five (high anomaly rate, device offline and
availability, high latency, low battery) and its high-confidence anomaly, done as rules
with hysteresis, plus what an operator of a sensor fleet needs next. docs/alerts.md has
the table; ``rules`` reads a TOML file over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from edgewatch.coordinator.alerts.records import Severity
from edgewatch.shared.alert_rules import Levels

ScopeKind = Literal["sensor", "agent", "type", "fleet"]


@dataclass(frozen=True)
class Metric:
    scopes: tuple[ScopeKind, ...]
    event: bool = False
    windowed: bool = False
    unit: str = ""


METRICS: dict[str, Metric] = {
    "anomaly_rate": Metric(("sensor", "agent", "type", "fleet"), windowed=True),
    "latency_p95_s": Metric(("agent", "fleet"), windowed=True, unit="s"),
    "agent_availability": Metric(("agent",), windowed=True),
    "fleet_availability": Metric(("fleet",)),
    "battery_percent": Metric(("agent",), unit="%"),
    "outbox_oldest_age_s": Metric(("agent",), unit="s"),
    "sensor_silence_s": Metric(("sensor",), unit="s"),
    "clock_skew_s": Metric(("agent",), unit="s"),
    "ingest_rejects_per_min": Metric(("fleet",), windowed=True),
    "converge_lag_s": Metric(("agent",), unit="s"),
    "confidence": Metric(("sensor",), event=True),
    "model_rollback": Metric(("type",), event=True),
}


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    scope: ScopeKind
    severity: Severity
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    for_s: float = 0.0
    window_s: float = 300.0
    min_count: int = 1
    clear_after_s: float = 60.0
    enabled: bool = True
    description: str = ""

    @property
    def event(self) -> bool:
        return METRICS[self.metric].event

    def levels(self) -> Levels:
        if self.above is not None:
            clear = self.above if self.clear is None else self.clear
            return Levels(self.above, clear, True, self.for_s)
        assert self.below is not None
        clear = self.below if self.clear is None else self.clear
        return Levels(self.below, clear, False, self.for_s)


def _r(name: str, metric: str, scope: ScopeKind, severity: Severity, desc: str, **kw: Any) -> Rule:
    return Rule(name, metric, scope, severity, description=desc, **kw)


DEFAULT_RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        _r(
            "high_anomaly_rate",
            "anomaly_rate",
            "sensor",
            "warning",
            "share of a sensor's readings judged anomalous over the window",
            above=0.15,
            clear=0.10,
            window_s=300.0,
            min_count=60,
        ),
        _r(
            "agent_offline",
            "agent_availability",
            "agent",
            "critical",
            "share of the window an agent was up (online, heartbeats on time)",
            below=0.8,
            clear=0.95,
            window_s=60.0,
        ),
        _r(
            "fleet_availability",
            "fleet_availability",
            "fleet",
            "critical",
            "share of the agents seen in the last day that are up now",
            below=0.8,
            clear=0.9,
        ),
        _r(
            "high_latency",
            "latency_p95_s",
            "agent",
            "warning",
            "p95 of reading -> committed over the window, corrected by the agent's clock skew",
            above=5.0,
            clear=2.0,
            window_s=120.0,
            min_count=20,
        ),
        _r(
            "low_battery",
            "battery_percent",
            "agent",
            "warning",
            "the agent's battery (flagged when simulated)",
            below=20.0,
            clear=25.0,
        ),
        _r(
            "critical_anomaly",
            "confidence",
            "sensor",
            "critical",
            "a reading judged anomalous with at least this confidence",
            above=0.9,
            clear_after_s=60.0,
        ),
        _r(
            "outbox_backlog",
            "outbox_oldest_age_s",
            "agent",
            "warning",
            "age of the oldest result an agent has not had acked",
            above=300.0,
            clear=60.0,
        ),
        _r(
            "sensor_silent",
            "sensor_silence_s",
            "sensor",
            "warning",
            "seconds since an assigned sensor's last stored reading",
            above=60.0,
            clear=5.0,
        ),
        _r(
            "clock_skew",
            "clock_skew_s",
            "agent",
            "warning",
            "the agent's clock offset estimated from its heartbeats (absolute)",
            above=2.0,
            clear=0.5,
            for_s=30.0,
        ),
        _r(
            "ingest_rejects",
            "ingest_rejects_per_min",
            "fleet",
            "warning",
            "messages ingest refused per minute",
            above=10.0,
            clear=1.0,
            window_s=60.0,
        ),
        _r(
            "model_rollback",
            "model_rollback",
            "type",
            "warning",
            "a model rollout of this sensor type was rolled back",
            clear_after_s=3600.0,
        ),
        _r(
            "agent_not_converged",
            "converge_lag_s",
            "agent",
            "warning",
            "seconds an agent has been behind its desired state",
            above=30.0,
            clear=0.0,
        ),
    )
}
