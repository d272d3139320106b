"""The ``aggregates`` follower of the committed feed.

Each page of feed entries: read its readings from the store (columns), compute what they
add to every window (``compute``), merge that into the stored windows and move the
watermark in one transaction (``AggregateStore.apply_aggregates``). A crash anywhere
leaves windows and watermark as they were; the page is applied again after restart,
once. Late readings land in the window of their own timestamp.

``on_applied`` is called after each page with the windows it touched (the alert engine
re-evaluates at once instead of waiting for its next tick).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from edgewatch.coordinator.aggregates.compute import (
    Columns,
    Contribution,
    WindowKey,
    columns_of_batch,
    concat,
    contributions,
)
from edgewatch.coordinator.ingest.feed import CommittedFeed
from edgewatch.coordinator.store import FeedEntry

log = logging.getLogger(__name__)
NAME = "aggregates"


class _Store(Protocol):
    def feed_columns(self, entries: Sequence[FeedEntry]) -> Columns: ...

    def apply_aggregates(
        self, updates: dict[WindowKey, Contribution], consumer: str, after: int, position: int
    ) -> bool: ...

    def watermark(self, consumer: str) -> int: ...


class AggregateConsumer:
    """``FeedConsumer`` keeping the ``aggregates`` table."""

    name = NAME

    def __init__(
        self,
        store: _Store,
        *,
        feed: CommittedFeed | None = None,
        on_applied: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._feed = feed
        self._on_applied = on_applied
        self.from_cache = 0
        self.pages = 0
        self.readings = 0
        self.skipped = 0
        self.lag_s = 0.0  # commit -> windows updated, of the last page's newest entry
        self.lags: deque[float] = deque(maxlen=100_000)  # the same, per entry applied

    def consume(self, entries: Sequence[FeedEntry]) -> None:
        if not entries:
            return
        after = entries[0].position - 1
        # The runner pages from the watermark, so the page starts right past it; gaps in
        # positions (rolled-back transactions) are fine: compare with the stored value.
        stored = self._store.watermark(self.name)
        # Another replica may have applied part of this page since the runner read it:
        # claim from the stored watermark only what lies past it (else the overlap would
        # be counted twice).
        entries = [e for e in entries if e.position > stored]
        if not entries:
            return
        cols = self._columns(entries)
        updates = contributions(cols)
        if not self._store.apply_aggregates(updates, self.name, stored, entries[-1].position):
            # The watermark moved under us (a rebuild): the runner reads it again.
            self.skipped += 1
            log.info("aggregates: watermark moved during a page at %d; re-reading", after)
            return
        self.pages += 1
        self.readings += len(cols)
        now = time.time()
        self.lag_s = max(0.0, now - entries[-1].committed_at)
        self.lags.extend(max(0.0, now - e.committed_at) for e in entries)
        if self._on_applied is not None:
            self._on_applied(now)

    def _columns(self, entries: Sequence[FeedEntry]) -> Columns:
        """The entries' readings: whole batches from the feed's cache, the rest from the
        store (one query per entry), in one set of columns."""
        parts: list[Columns] = []
        missing: list[FeedEntry] = []
        for e in entries:
            batch = self._feed.recent(e) if self._feed is not None else None
            if batch is None:
                missing.append(e)
            else:
                parts.append(columns_of_batch(batch, e.committed_at))
                self.from_cache += 1
        if missing:
            parts.append(self._store.feed_columns(missing))
        return concat(parts)
