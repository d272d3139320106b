"""The ``alerts`` follower of the committed feed: ``critical_anomaly`` per reading.

Only entries that stored an anomaly are read (the feed counts them), and only the
readings at or above the rule's confidence; alerts and the watermark move together.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgewatch.coordinator.alerts.engine import FEED_NAME, AlertEngine
from edgewatch.coordinator.store import FeedEntry


class CriticalConsumer:
    name = FEED_NAME

    def __init__(self, engine: AlertEngine) -> None:
        self._engine = engine

    def consume(self, entries: Sequence[FeedEntry]) -> None:
        if not entries:
            return
        level = self._engine.critical_level()
        found = (
            self._engine.store.feed_critical(entries, level)
            if level is not None and any(e.anomalies for e in entries)
            else []
        )
        self._engine.on_critical(found, self.name, entries[-1].position)
