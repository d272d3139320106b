"""Aggregates, alerts and retention, wired into the coordinator as one part.

``CoordinatorService`` builds one ``Analytics`` and calls it at a few points: its feed
followers join the service's consumers, ``start``/``stop`` with the service, the MQTT
subscriptions it needs, the messages it takes off the ingest path (edge alert batches,
retained active alerts), the link coming up, and the desired-state config every agent
gets (its own alert rules). Everything else lives in ``coordinator.aggregates`` and
``coordinator.alerts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.aggregates.records import Retention
from edgewatch.coordinator.aggregates.retention import DAY, RetentionDuty
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.records import AlertQuery, Transition
from edgewatch.coordinator.alerts.system import AlertSystem, edge_settings
from edgewatch.coordinator.cluster.leadership import Leadership, LocalLeadership
from edgewatch.coordinator.cluster.singleton import SingletonDuty
from edgewatch.coordinator.fleet.duty import FleetDuty
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store import Store
from edgewatch.shared.desired import ConfigOverrides
from edgewatch.shared.errors import TopicError
from edgewatch.shared.topics import Kind, Topics


class _TakeOver:
    """The ``alerts`` role's duty: its thread is the alert duty's (which every replica
    runs, evaluating only while the role is held); taking the role resets the engine
    to what the store says."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    def start(self) -> None:
        self.engine.take_over()

    def stop(self) -> None:
        """Nothing to stop: the alert duty stops evaluating once the role is gone."""


class Analytics:
    def __init__(
        self,
        settings: CoordinatorSettings,
        store: Store,
        topics: Topics,
        feed: CommittedFeed,
        fleet: FleetRegistry,
        metrics: CoordinatorMetrics,
        *,
        publish: Callable[..., object],
        fleet_duty: Callable[[], FleetDuty | None],
        consumers: Sequence[str],
        leadership: Callable[[str], Leadership] | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._topics = topics
        self._metrics = metrics
        self._fleet_duty = fleet_duty
        self.alerts: AlertSystem | None = None
        self.aggregates: AggregateConsumer | None = None
        self.consumers: list[ConsumerRunner] = []
        # The timer work that must run once in a deployment (docs/scale-out.md): alert
        # rules and retention, each under a role only one replica holds.
        self.alert_role: SingletonDuty[_TakeOver] | None = None
        self.retention_role: SingletonDuty[RetentionDuty] | None = None
        lead = leadership or (lambda role: LocalLeadership(f"{role}@{settings.db}"))
        s = settings
        if not s.aggregates:
            return
        if s.alerts:
            alert_role = SingletonDuty("alerts", lead("alerts"), self._take_over)
            self.alert_role = alert_role
            self.alerts = AlertSystem(
                store,
                topics,
                rules_path=s.alert_rules,
                agents=fleet.all,
                publish=publish,
                timeout_s=s.agent_timeout_s,
                converge_lag=self._converge_lag,
                assigned=self._assigned,
                holds=lambda: alert_role.running is not None,
            )
        wake = self.alerts.duty.wake if self.alerts is not None else None
        self.aggregates = AggregateConsumer(store, feed=feed, on_applied=wake)
        # A page at most every 0.2 s: the cost of a page is mostly per page.
        self.consumers.append(
            ConsumerRunner(self.aggregates, store, feed, batch=2000, min_interval_s=0.2)
        )
        if self.alerts is not None:
            self.consumers.append(ConsumerRunner(self.alerts.consumer, store, feed))
        days = {
            60: s.retention_1m_days,
            300: s.retention_5m_days,
            900: s.retention_15m_days,
            3600: s.retention_1h_days,
        }
        policy = Retention(
            windows={k: (v * DAY if v else None) for k, v in days.items()},
            raw_s=s.retention_raw_days * DAY if s.retention_raw_days else None,
        )
        names = [*consumers, *(c.consumer.name for c in self.consumers)]
        self.retention_role = SingletonDuty(
            "retention", lead("retention"), lambda: RetentionDuty(store, policy, names)
        )
        self._bind_metrics()

    # -- the service's hooks ------------------------------------------------------------

    @property
    def roles(self) -> list[SingletonDuty[Any]]:
        return [r for r in (self.alert_role, self.retention_role) if r is not None]

    def start(self) -> None:
        if self.alerts is not None:
            self.alerts.start()
        for role in self.roles:
            role.start()

    def stop_duties(self) -> None:
        """Before ingest stops: retention must not delete under a closing store."""
        if self.retention_role is not None:
            self.retention_role.stop()

    def stop(self) -> None:
        """After the feed followers stopped."""
        if self.alert_role is not None:
            self.alert_role.stop()
        if self.alerts is not None:
            self.alerts.stop()

    def _take_over(self) -> _TakeOver:
        assert self.alerts is not None
        return _TakeOver(self.alerts.engine)

    def desired_config(self) -> ConfigOverrides | None:
        """What every agent's desired state carries: its own alert rules."""
        if self.alerts is None:
            # The agents keep their own rules and local alerts (journal, alerts.jsonl,
            # site broker); with no engine here, nobody acks their uplink copies.
            return None
        return ConfigOverrides(alerts=edge_settings(self.alerts.rules))

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        if self.alerts is None:
            return ()
        edge = self._topics.all_agents(Kind.ALERTS)
        if self.settings.share_group:
            edge = Topics.shared(self.settings.share_group, edge)
        return ((edge, 1), (self._topics.alerts_active_filter(), 1))

    def link_up(self) -> None:
        if self.alerts is not None:
            self.alerts.duty.republish()

    def take(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Take the alert engine's own messages past ingest (MQTT thread: only queues);
        True if taken."""
        if self.alerts is None:
            return False
        if topic.startswith(self._topics.alert_active("")):
            if retained:
                self.alerts.duty.retained(topic, payload)
            return True
        if not topic.endswith("/" + Kind.ALERTS.value):
            return False
        try:
            ref = self._topics.parse(topic)
        except TopicError:
            return False
        if ref.kind is not Kind.ALERTS:
            return False
        self.alerts.duty.edge(ref.agent_id, payload)
        return True

    # -- inputs of the rules --------------------------------------------------------------

    def _converge_lag(self, agent_id: str) -> float | None:
        duty = self._fleet_duty()
        if duty is None:
            return None
        c = duty.convergence(agent_id)
        if c.desired_generation == 0:
            return None
        return 0.0 if c.behind_since is None else max(0.0, time.time() - c.behind_since)

    def _assigned(self) -> dict[str, str]:
        duty = self._fleet_duty()
        if duty is None:
            return {}
        return {s: a for a, sensors in duty.assignments().items() for s in sensors}

    def _bind_metrics(self) -> None:
        m, aggregates, alerts = self._metrics, self.aggregates, self.alerts
        if aggregates is not None:
            m.aggregate_lag.set_function(lambda: aggregates.lag_s)
        if alerts is None:
            return
        active = {"n": 0}

        def count(done: Sequence[Transition]) -> None:
            for t in done:
                m.alert_transitions.labels(rule=t.alert.rule, kind=t.event.kind).inc()
            active["n"] = len(self._store.alerts(AlertQuery(state="active", limit=1_000_000)))

        alerts.publisher.add_listener(count)
        m.alerts_active.set_function(lambda: active["n"])
        hooks = alerts.webhooks.counters
        for outcome in ("sent", "failed_attempts", "given_up", "dropped_full"):
            m.webhooks.labels(outcome=outcome).set_function(
                lambda o=outcome: float(getattr(hooks, o))  # type: ignore[misc]
            )
