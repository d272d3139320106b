"""Prometheus metrics of the coordinator, on a registry of their own.

One ``CollectorRegistry`` per app (not the global one), so several coordinators in one
process (tests, the demo, the benchmarks) never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Commit latency: a transaction of a few batches takes milliseconds; seconds mean trouble.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Reading -> committed: 250 ms is the p99 target at steady rate; backlogs go to hours.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0, 3600.0)


class CoordinatorMetrics:
    """The coordinator's instruments; the ingest worker feeds them after each commit."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "edgewatch_readings_received", "Readings in decoded batches", registry=r
        )
        self.stored = Counter("edgewatch_readings_stored", "Readings newly stored", registry=r)
        self.duplicates = Counter(
            "edgewatch_duplicates_dropped", "Readings already stored (dropped)", registry=r
        )
        self.rejected = Counter(
            "edgewatch_rejected", "Messages refused, by reason", ["reason"], registry=r
        )
        self.conflicts = Counter(
            "edgewatch_conflicts",
            "Readings whose key the store held with different content (quarantined)",
            registry=r,
        )
        self.ingest_errors = Counter(
            "edgewatch_ingest_errors",
            "Ingest drains that failed on an unexpected error (none of their messages acked)",
            registry=r,
        )
        self.queue_full = Counter(
            "edgewatch_ingest_queue_full", "Times the ingest queue was full", registry=r
        )
        self.commit_seconds = Histogram(
            "edgewatch_batch_commit_seconds",
            "Duration of one ingest transaction (insert + commit)",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.lag_seconds = Histogram(
            "edgewatch_end_to_end_lag_seconds",
            "Reading timestamp to commit (stored_at - ts)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "edgewatch_ingest_queue_depth", "Messages waiting for the ingest worker", registry=r
        )
        self.agents_online = Gauge("edgewatch_agents_online", "Agents online", registry=r)
        self.agents_not_converged = Gauge(
            "edgewatch_agents_not_converged",
            "Agents behind their desired state for longer than --converge-timeout-s",
            registry=r,
        )

        # Aggregates and alerts (docs/aggregates.md, docs/alerts.md).
        self.alert_transitions = Counter(
            "edgewatch_alert_transitions",
            "Alert transitions stored and published, by rule and kind",
            ["rule", "kind"],
            registry=r,
        )
        self.alerts_active = Gauge(
            "edgewatch_alerts_active", "Alerts open or acknowledged", registry=r
        )
        self.aggregate_lag = Gauge(
            "edgewatch_aggregate_lag_seconds",
            "Commit of the newest feed entry applied -> its windows updated",
            registry=r,
        )
        self.webhooks = Gauge(
            "edgewatch_webhook_notifications",
            "Webhook notifications since start, by outcome (sent, failed_attempts, "
            "given_up, dropped_full)",
            ["outcome"],
            registry=r,
        )

    def bind(self, queue_depth: Callable[[], float], agents_online: Callable[[], float]) -> None:
        """Read the two gauges from live state at scrape time."""
        self.queue_depth.set_function(queue_depth)
        self.agents_online.set_function(agents_online)

    def observe_batch(self, received: int, stored: int, duplicates: int, conflicts: int) -> None:
        self.received.inc(received)
        self.stored.inc(stored)
        self.duplicates.inc(duplicates)
        self.conflicts.inc(conflicts)

    def observe_lags(self, stored_at: float, timestamps: Iterable[float]) -> None:
        observe = self.lag_seconds.observe
        for ts in timestamps:
            observe(max(0.0, stored_at - ts))

    def observe_refusal(self, reason: str, readings: int) -> None:
        self.rejected.labels(reason=reason).inc()
        if readings:
            self.received.inc(readings)
