"""Retention: windows by size, raw readings by age, each counted from when it was stored.

A store that grows forever fills a 32 GB SD card. Windows are dropped once not updated
for their size's retention; raw readings (and their feed entries) once stored longer
ago than ``raw_s`` and passed by every feed consumer. Counting from the time of storage,
never the reading's own timestamp, means a backlog that lands a month late is kept for
the full period, not expired on arrival.

``RetentionDuty`` runs a pass every ``interval_s`` in its own thread, a bounded number of
feed entries per transaction so ingest never waits long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from edgewatch.coordinator.aggregates.records import Expired, Retention
from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store import AggregateStore
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)
DAY = 86_400.0


@dataclass
class RetentionTotals:
    windows: int = 0
    readings: int = 0
    passes: int = 0
    errors: int = 0


class RetentionDuty:
    def __init__(
        self,
        store: AggregateStore,
        policy: Retention,
        consumers: Sequence[str],
        *,
        interval_s: float = 300.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self._store = store
        self.policy = policy
        self._consumers = tuple(consumers)
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.totals = RetentionTotals()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sweep(self) -> Expired:
        """Expire until nothing is left to expire now (bounded transactions)."""
        windows = readings = entries = 0
        while True:
            done = self._store.expire(self._clock.time(), self.policy, self._consumers)
            windows += done.windows
            readings += done.readings
            entries += done.feed_entries
            if done.feed_entries < self.policy.batch_entries or self._stop.is_set():
                break
        self.totals.passes += 1
        self.totals.windows += windows
        self.totals.readings += readings
        if windows or readings:
            log.info("retention: expired %d window(s) and %d reading(s)", windows, readings)
        return Expired(windows, readings, entries)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sweep()
            except StoreError:
                self.totals.errors += 1
                log.exception("retention pass failed; trying again later")
