"""BulkHistogram exposes what prometheus_client's Histogram would for the same values."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from edgewatch.coordinator.bulk_histogram import BulkHistogram


def _exposition(registry: CollectorRegistry) -> list[str]:
    # The client's histogram adds a _created gauge; everything else must match.
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_bulk_observation_matches_one_by_one() -> None:
    bounds = (0.01, 0.1, 1.0, 30.0)
    values = [0.0, 0.01, 0.010001, 0.5, 1.0, 29.0, 31.0, 4000.0]
    one, bulk = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lag_seconds", "lag", buckets=bounds, registry=one)
    ours = BulkHistogram("lag_seconds", "lag", buckets=bounds, registry=bulk)
    for v in values:
        reference.observe(v)
    ours.observe_many(np.array(values[:3]))
    ours.observe_many(np.array(values[3:]))
    ours.observe_many(np.array([]))
    assert _exposition(bulk) == _exposition(one)
    assert ours.count == len(values)
