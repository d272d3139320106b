"""Prometheus figures of cloud re-scoring, read at scrape time.

- ``edgewatch_rescore_agreement{agent_id, sensor_type, scorer}``: share of re-scored
  readings on which the cloud's verdict equalled the edge's (since the store began);
- ``edgewatch_rescored_readings{agent_id, sensor_type, scorer}``: how many that is;
- ``edgewatch_rescored_total{why}``: readings re-scored since start, ``sample`` or
  ``no_model``;
- ``edgewatch_rescoring_unscored_total``: readings of types without any cloud model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.rescoring.consumer import RescoringConsumer
from edgewatch.coordinator.store import VerdictStore

log = logging.getLogger(__name__)
LABELS = ["agent_id", "sensor_type", "scorer"]


class RescoringCollector(Collector):
    def __init__(self, store: VerdictStore, consumer: RescoringConsumer) -> None:
        self.store = store
        self.consumer = consumer

    def collect(self) -> Iterator[Metric]:
        agreement = GaugeMetricFamily(
            "edgewatch_rescore_agreement",
            "Share of re-scored readings where the cloud's verdict equals the edge's",
            labels=LABELS,
        )
        rescored = GaugeMetricFamily(
            "edgewatch_rescored_readings",
            "Readings the cloud re-scored, per agent, type and edge scorer (since the store began)",
            labels=LABELS,
        )
        try:
            totals = self.store.verdict_totals()
        except StoreError:
            log.warning("cannot read verdict totals for /metrics", exc_info=True)
            totals = []
        for c in totals:
            if c.rescored:
                labels = [c.agent_id, c.sensor_type, c.scorer]
                agreement.add_metric(labels, c.agreed / c.rescored)
                rescored.add_metric(labels, c.rescored)
        yield agreement
        yield rescored
        total = CounterMetricFamily(
            "edgewatch_rescored", "Readings re-scored by the cloud since start", labels=["why"]
        )
        for why, n in sorted(self.consumer.counters.rescored.items()):
            total.add_metric([why], n)
        yield total
        unscored = CounterMetricFamily(
            "edgewatch_rescoring_unscored",
            "Readings of types the cloud has no model for, since start",
        )
        unscored.add_metric([], self.consumer.counters.unscored)
        yield unscored
