"""Recompute windows from raw readings: ``edgewatch aggregates rebuild [--since]``.

Hour by hour (every window size divides the hour, so an hour's windows depend on that
hour's readings only), each hour in one write transaction that reads the consumer's
watermark, recomputes from the readings up to it and replaces the hour's windows: the
consumer carries on from its watermark as if nothing happened. Ingest waits for the
write lock while an hour is recomputed (agents resend after their ack timeout; nothing
is lost): run it off-peak on a busy store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from edgewatch.coordinator.aggregates.compute import contributions
from edgewatch.coordinator.aggregates.consumer import NAME
from edgewatch.coordinator.store import AggregateStore, ReadingQuery, ReadingStore

log = logging.getLogger(__name__)
HOUR = 3600


class _Store(AggregateStore, ReadingStore, Protocol):
    pass


def first_ts(store: ReadingStore) -> float | None:
    found = store.stamps(ReadingQuery(limit=1))
    return found[0].ts if found else None


def last_ts(store: ReadingStore) -> float | None:
    found = store.stamps(ReadingQuery(limit=1, descending=True))
    return found[0].ts if found else None


def rebuild(
    store: _Store,
    since: float | None = None,
    *,
    progress: Callable[[int, int, int], None] | None = None,
) -> tuple[int, int]:
    """Recompute every hour from ``since`` (default: the oldest reading) to the newest
    reading; (hours, readings). ``progress(done, total, readings)`` after each hour."""
    oldest, newest = first_ts(store), last_ts(store)
    if oldest is None or newest is None:
        return 0, 0
    start = int((oldest if since is None else max(since, 0.0)) // HOUR) * HOUR
    end = (int(newest // HOUR) + 1) * HOUR
    total = max(0, (end - start) // HOUR)
    readings = 0
    t0 = time.monotonic()
    for i, hour in enumerate(range(start, end, HOUR)):
        readings += store.rebuild_aggregates(hour, hour + HOUR, contributions, NAME)
        if progress is not None:
            progress(i + 1, total, readings)
    log.info("rebuilt %d hour(s), %d readings in %.1fs", total, readings, time.monotonic() - t0)
    return total, readings
