"""Optional Prometheus endpoint on the agent (``--metrics-port``, ``--metrics-host``).

Values are read from the agent when scraped (a custom collector), so the hot loop pays
nothing for metrics it is not asked for. It listens on 127.0.0.1 unless told otherwise:
``--metrics-host 0.0.0.0`` lets a Prometheus on another machine scrape it.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from edgewatch.shared.errors import ConfigError

if TYPE_CHECKING:
    from edgewatch.agent.runner import Agent


class AgentCollector(Collector):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        a = self.agent
        stats = a.snapshot
        c = a.counters
        yield GaugeMetricFamily(
            "edgewatch_outbox_rows", "Readings waiting in the outbox", value=stats.rows
        )
        yield GaugeMetricFamily(
            "edgewatch_outbox_bytes", "Payload bytes in the outbox", value=stats.bytes
        )
        age = time.time() - stats.oldest_created if stats.oldest_created else 0.0
        yield GaugeMetricFamily(
            "edgewatch_outbox_oldest_age_seconds", "Age of the oldest unacked reading", value=age
        )
        yield CounterMetricFamily("edgewatch_readings_scored", "Readings scored", value=c.scored)
        yield CounterMetricFamily(
            "edgewatch_readings_acked", "Readings acked by the coordinator", value=c.acked
        )
        yield CounterMetricFamily(
            "edgewatch_chunks_sent", "Batches published (incl. resends)", value=c.sent_chunks
        )
        yield CounterMetricFamily(
            "edgewatch_scoring_seconds", "Time spent scoring", value=c.score_seconds
        )
        dropped = CounterMetricFamily(
            "edgewatch_readings_dropped", "Readings dropped", labels=["reason"]
        )
        for reason, n in sorted(stats.dropped.items()):
            dropped.add_metric([reason], n)
        yield dropped
        yield GaugeMetricFamily(
            "edgewatch_uplink_connected",
            "1 when the MQTT link is up",
            value=1.0 if a.uplink.connected else 0.0,
        )
        yield GaugeMetricFamily(
            "edgewatch_inflight_chunks",
            "Batches sent and not yet acked",
            value=len(a.window.inflight),
        )


def serve_metrics(agent: Agent, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; ConfigError if it cannot."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(agent))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"metrics port {port} on {host} is in use (another agent? use --metrics-port N)"
            ) from exc
        why = exc.strerror or str(exc)
        raise ConfigError(
            f"--metrics-host {host} --metrics-port {port}: cannot listen there: {why}"
        ) from exc
