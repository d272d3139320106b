"""The sensors the store has heard of: a consumer of the committed feed.

For every sensor: its type, the agent that last sent it, the time span of its readings,
how many were stored and how many the edge judged anomalous, and when the last of them
was committed. Kept incrementally from the committed feed (``ingest.feed``), so it costs
ingest nothing and survives restarts exactly (the counts and the watermark move in one
transaction). The fleet's sensor registry and the ``sensor_silent`` alert read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edgewatch.coordinator.store import FeedEntry, SensorActivity


class _Store(Protocol):
    def feed_sensor_summary(self, entries: Sequence[FeedEntry]) -> list[SensorActivity]: ...

    def watermark(self, consumer: str) -> int: ...

    def apply_sensor_activity(
        self,
        updates: Sequence[SensorActivity],
        consumer: str,
        position: int,
        *,
        after: int | None = None,
    ) -> bool: ...


class SensorActivityConsumer:
    """``FeedConsumer`` keeping the ``sensors`` table."""

    name = "sensors"

    def __init__(self, store: _Store) -> None:
        self._store = store

    def consume(self, entries: Sequence[FeedEntry]) -> None:
        # Replicas run this consumer each: apply only what is past the stored watermark,
        # and only if it is still there when committing (compare-and-set), so no page
        # is counted twice.
        after = self._store.watermark(self.name)
        entries = [e for e in entries if e.position > after]
        if not entries:
            return
        updates = self._store.feed_sensor_summary(entries)
        self._store.apply_sensor_activity(updates, self.name, entries[-1].position, after=after)
