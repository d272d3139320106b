"""Mergeable window statistics: what one window of readings adds up to.

Every figure here merges exactly or, for floating point, in a numerically sound way, so
that a window built from many pages in any order (a backlog landing late, across window
boundaries) equals the same window computed from its raw readings in one pass:

- count, anomalies, status counts and the latency histogram are integer sums;
- per metric, ``(count, mean, m2, min, max)`` merges by Chan, Golub and LeVeque's
  pairwise update (``m2`` is the sum of squared deviations from the mean), which keeps
  the variance accurate where the textbook sum-of-squares formula cancels catastrophically.

>>> a = MetricStats.of([1.0, 2.0]); b = MetricStats.of([3.0, 4.0, 5.0])
>>> a.merge(b) == MetricStats.of([1.0, 2.0, 3.0, 4.0, 5.0])
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

STATUSES = ("normal", "warning", "alert", "none")


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Count, mean, sum of squared deviations, min and max of one metric's values."""

    count: int
    mean: float
    m2: float
    min: float
    max: float

    @staticmethod
    def of(values: Iterable[float]) -> MetricStats:
        """Two-pass statistics of ``values`` (the reference the merges must equal)."""
        xs = list(values)
        n = len(xs)
        mean = math.fsum(xs) / n
        return MetricStats(n, mean, math.fsum((x - mean) ** 2 for x in xs), min(xs), max(xs))

    def merge(self, other: MetricStats) -> MetricStats:
        n = self.count + other.count
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.count * other.count / n)
        return MetricStats(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1, as pandas' ``std``); None below 2 values."""
        return math.sqrt(max(self.m2, 0.0) / (self.count - 1)) if self.count > 1 else None

    def as_list(self) -> list[float]:
        return [self.count, self.mean, self.m2, self.min, self.max]

    @staticmethod
    def from_list(values: list[float]) -> MetricStats:
        n, mean, m2, lo, hi = values
        return MetricStats(int(n), float(mean), float(m2), float(lo), float(hi))


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Everything one window holds about its readings.

    ``latency`` is a histogram of reading -> committed seconds (``latency.bucket_of``),
    keyed by bucket number as text (so it survives JSON unchanged).
    """

    count: int = 0
    anomalies: int = 0
    statuses: Mapping[str, int] = field(default_factory=dict)
    latency: Mapping[str, int] = field(default_factory=dict)
    metrics: Mapping[str, MetricStats] = field(default_factory=dict)

    def merge(self, other: WindowStats) -> WindowStats:
        metrics = dict(self.metrics)
        for name, stats in other.metrics.items():
            metrics[name] = metrics[name].merge(stats) if name in metrics else stats
        return WindowStats(
            count=self.count + other.count,
            anomalies=self.anomalies + other.anomalies,
            statuses=_add(self.statuses, other.statuses),
            latency=_add(self.latency, other.latency),
            metrics=metrics,
        )

    @property
    def anomaly_rate(self) -> float | None:
        return self.anomalies / self.count if self.count else None


def merge_all(parts: Iterable[WindowStats]) -> WindowStats:
    total = WindowStats()
    for part in parts:
        total = total.merge(part)
    return total
