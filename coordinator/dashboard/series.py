"""The dashboard's live charts: one point a second from the committed feed.

``LiveSeries`` follows the committed feed from its head (what is committed from now on;
the durable history is the aggregates' job) and turns each interval's entries into one
``Point``: readings stored per second, reading -> committed latency p50/p99, and the
anomaly rate per sensor type. It reads what was committed **from the store**, so on a
replica it charts the whole fleet, not only the batches this process ingested.

Latency and the per-type rates need each reading: they come from a bounded sample of the
interval's batches (``sample`` readings at most, whole batches spread over the interval),
so a busy second costs the same as a quiet one; below that many readings a second they
are exact. The fleet-wide readings and anomalies per second are always exact.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store import FeedEntry, FeedStore
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)
MAX_ENTRIES_PER_POINT = 20_000


@dataclass(frozen=True)
class Point:
    t: float
    readings_per_s: float
    anomalies_per_s: float
    latency_p50_s: float | None
    latency_p99_s: float | None
    # Share of the interval's readings judged anomalous, per sensor type that sent any.
    anomaly_rate: dict[str, float] = field(default_factory=dict)


class LiveSeries:
    """Keeps the last ``history`` points; ``start()`` samples every ``interval_s``."""

    def __init__(
        self,
        store: FeedStore,
        *,
        interval_s: float = 1.0,
        history: int = 900,
        sample: int = 2_000,
        clock: Clock = SYSTEM,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.sample_size = sample
        self.clock = clock
        self._points: deque[Point] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._position: int | None = None
        self._last_t: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-series", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def points(self, after: float | None = None) -> list[Point]:
        with self._lock:
            return [p for p in self._points if after is None or p.t > after]

    def sample(self) -> Point | None:
        """Take one point: everything committed since the last one (None on the first call,
        which only finds where the feed stands)."""
        now = self.clock.time()
        if self._position is None or self._last_t is None:
            self._position = self.store.feed_head()
            self._last_t = now
            return None
        entries = self._entries(self._position)
        if entries:
            self._position = entries[-1].position
        point = self._point(entries, now, max(now - self._last_t, 1e-6))
        self._last_t = now
        with self._lock:
            self._points.append(point)
        return point

    def _entries(self, position: int) -> list[FeedEntry]:
        found: list[FeedEntry] = []
        while len(found) < MAX_ENTRIES_PER_POINT:
            page = self.store.feed_after(position, 1_000)
            if not page:
                break
            found.extend(page)
            position = page[-1].position
        return found

    def _point(self, entries: Sequence[FeedEntry], now: float, dt: float) -> Point:
        stored = sum(e.stored for e in entries)
        anomalies = sum(e.anomalies for e in entries)
        lags: list[float] = []
        by_type: dict[str, list[int]] = {}
        for entry in self._sampled(entries):
            for r in self.store.feed_readings(entry):
                lags.append(entry.committed_at - r.ts)
                counts = by_type.setdefault(r.sensor_type, [0, 0])
                counts[0] += 1
                counts[1] += r.anomaly
        p50 = p99 = None
        if lags:
            q = np.quantile(np.asarray(lags), [0.5, 0.99])
            p50, p99 = round(float(q[0]), 4), round(float(q[1]), 4)
        return Point(
            t=round(now, 3),
            readings_per_s=round(stored / dt, 1),
            anomalies_per_s=round(anomalies / dt, 2),
            latency_p50_s=p50,
            latency_p99_s=p99,
            anomaly_rate={t: round(a / n, 4) for t, (n, a) in sorted(by_type.items()) if n},
        )

    def _sampled(self, entries: Sequence[FeedEntry]) -> list[FeedEntry]:
        """Every k-th batch, k chosen so that about ``sample_size`` readings are read."""
        if not entries:
            return []
        total = sum(e.stored for e in entries)
        if total <= self.sample_size:
            return list(entries)
        wanted = max(1, round(len(entries) * self.sample_size / total))
        return list(entries[:: max(1, len(entries) // wanted)])

    def _run(self) -> None:
        while not self._stop.wait(self._wait()):
            try:
                self.sample()
            except StoreError as exc:  # the store is down: the chart shows a gap, not a crash
                log.warning("dashboard series: store unavailable: %s", exc)

    def _wait(self) -> float:
        if self._last_t is None:
            return 0.0
        return max(0.0, self._last_t + self.interval_s - self.clock.time())
