"""The alert engine and everything around it, wired as one part of the coordinator.

``CoordinatorService`` builds one ``AlertSystem`` (when alerts are on): rules from the
file (refused at start with line and reason), the engine, MQTT publisher, webhooks, the
``alerts`` feed consumer, the edge intake and the duty thread. ``hooks`` is what other
duties call (``model_rollback``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgewatch.coordinator.alerts.duty import AlertDuty
from edgewatch.coordinator.alerts.edge import EdgeAlertIntake
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.feed import CriticalConsumer
from edgewatch.coordinator.alerts.hooks import AlertHooks
from edgewatch.coordinator.alerts.publisher import AlertPublisher
from edgewatch.coordinator.alerts.rules import RuleSet, load_rules
from edgewatch.coordinator.alerts.signals import Signals
from edgewatch.coordinator.alerts.webhooks import WebhookNotifier
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store import Store
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.desired import EdgeAlertSettings
from edgewatch.shared.topics import Topics


def edge_settings(rules: RuleSet) -> EdgeAlertSettings:
    """The agents' own rules, from the coordinator's: one rule file for both sides."""
    crit = rules.rules.get("critical_anomaly")
    rate = rules.rules.get("high_anomaly_rate")
    out = EdgeAlertSettings()
    if crit is not None and crit.above is not None:
        out = out.model_copy(
            update={"critical_confidence": crit.above, "critical_clear_s": crit.clear_after_s}
        )
    if rate is not None and rate.above is not None and rate.metric == "anomaly_rate":
        out = out.model_copy(
            update={
                "rate_window_s": rate.window_s,
                "rate_raise": min(1.0, rate.above),
                "rate_clear": min(1.0, rate.clear if rate.clear is not None else rate.above),
                "rate_min_count": rate.min_count,
            }
        )
    enabled = (crit is not None and crit.enabled) or (rate is not None and rate.enabled)
    return out.model_copy(update={"enabled": enabled})


class AlertSystem:
    def __init__(
        self,
        store: Store,
        topics: Topics,
        *,
        rules_path: Path | None,
        agents: Callable[[], list[AgentRecord]],
        publish: Callable[..., object] | None,
        timeout_s: float,
        converge_lag: Callable[[str], float | None] | None = None,
        assigned: Callable[[], dict[str, str]] | None = None,
        clock: Clock = SYSTEM,
        tick_s: float = 1.0,
    ) -> None:
        self.rules = load_rules(rules_path)
        self.webhooks = WebhookNotifier(
            dict(self.rules.webhooks),
            timeout_s=self.rules.webhook_timeout_s,
            retries=self.rules.webhook_retries,
        )
        self.publisher = AlertPublisher(topics, publish, self.webhooks)
        self.signals = Signals(
            store, agents, timeout_s=timeout_s, converge_lag=converge_lag, assigned=assigned
        )
        self.engine = AlertEngine(store, self.rules, self.signals, self.publisher, clock=clock)
        self.intake = (
            EdgeAlertIntake(self.engine, topics, publish, clock_time=clock.time)
            if publish is not None
            else None
        )
        self.duty = AlertDuty(self.engine, self.intake, self.publisher, tick_s=tick_s)
        self.consumer = CriticalConsumer(self.engine)
        self.hooks = AlertHooks(self.engine)

    def start(self) -> None:
        self.webhooks.start()
        self.duty.start()

    def stop(self) -> None:
        self.duty.stop()
        self.webhooks.stop()
