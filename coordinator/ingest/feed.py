"""The committed feed: what ingest committed, for the features that follow it.

Aggregates, alerts and the dashboard must not grow the ingest worker. Instead ingest
commits, and the store lists each batch it stored as a feed entry with a monotonic
position (``FeedStore.feed_after``). A **consumer** keeps its own durable watermark in
the store, reads entries past it *from the store* (not from memory, so it sees every
replica's commits and survives a restart or a crash between commit and its own
update), applies them, and moves its watermark in the same transaction as its output:
exactly once, whatever crashes where.

``CommittedFeed`` is the doorbell: ingest rings it after each commit so consumers
wake at once instead of polling; they also poll every ``poll_s`` (another replica's
commits ring no bell here). It also keeps the batches just committed, by feed position,
in a small bounded cache (``recent``): a consumer that reads a batch's readings may take
them from there instead of the store (no query, no JSON to parse), **only** when the
entry stored the whole batch; otherwise, after a restart, or for another replica's
commits, it reads the store, which stays the source of truth.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store import CommitResult, FeedEntry, FeedStore
from edgewatch.shared.schemas import ResultBatch

log = logging.getLogger(__name__)


class CommittedFeed:
    """The in-process doorbell of the committed feed (thread-safe)."""

    def __init__(self, cache_readings: int = 1_000_000) -> None:
        self._cond = threading.Condition()
        self._position = 0
        self._wakes = 0
        self._cache: OrderedDict[int, ResultBatch] = OrderedDict()
        self._cached = 0
        self._cache_readings = cache_readings

    @property
    def position(self) -> int:
        with self._cond:
            return self._position

    def published(
        self,
        position: int,
        batches: Sequence[ResultBatch] = (),
        result: CommitResult | None = None,
    ) -> None:
        """Ingest committed up to ``position``; ``batches`` and their ``result`` (optional)
        fill the cache: batch ``i`` with new rows got the next position, in order."""
        with self._cond:
            if result is not None and self._cache_readings:
                self._remember(batches, result)
            if position > self._position:
                self._position = position
                self._cond.notify_all()

    def _remember(self, batches: Sequence[ResultBatch], result: CommitResult) -> None:
        stored = [(b, o) for b, o in zip(batches, result.outcomes, strict=True) if o.stored]
        first = result.feed_position - len(stored) + 1
        for i, (batch, outcome) in enumerate(stored):
            if outcome.stored != batch.size:
                continue  # partly a resend: only the store knows which rows are new
            self._cache[first + i] = batch
            self._cached += batch.size
        while self._cached > self._cache_readings and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.size

    def recent(self, entry: FeedEntry) -> ResultBatch | None:
        """The whole batch ``entry`` stored, if still cached (else read the store)."""
        with self._cond:
            batch = self._cache.get(entry.position)
        if batch is None or batch.size != entry.stored:
            return None
        if (batch.agent_id, batch.epoch, batch.first_seq, batch.last_seq) != (
            entry.agent_id,
            entry.epoch,
            entry.first_seq,
            entry.last_seq,
        ):
            return None
        return batch

    def wake(self) -> None:
        """Wake every waiter without moving the position (a consumer is stopping)."""
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def wait_beyond(self, position: int, timeout: float) -> int:
        """Block until the feed is past ``position``, ``wake()`` or ``timeout``."""
        with self._cond:
            wakes = self._wakes
            self._cond.wait_for(lambda: self._position > position or self._wakes != wakes, timeout)
            return self._position


class FeedConsumer(Protocol):
    """Something that follows the committed feed."""

    @property
    def name(self) -> str:
        """Its watermark's key in the store; stable across releases."""
        ...

    def consume(self, entries: Sequence[FeedEntry]) -> None:
        """Apply ``entries`` and move the watermark past the last, in one transaction."""
        ...


class ConsumerRunner:
    """Runs one consumer in its own thread: catch up from its watermark, then follow."""

    def __init__(
        self,
        consumer: FeedConsumer,
        store: FeedStore,
        feed: CommittedFeed,
        *,
        batch: int = 200,
        poll_s: float = 1.0,
        min_interval_s: float = 0.0,
    ) -> None:
        self.consumer = consumer
        self._store = store
        self._feed = feed
        self._batch = batch
        self._poll_s = poll_s
        # At most one page per interval while following: a consumer whose cost is mostly
        # per page (a transaction, windows to merge) takes bigger pages, not more of them.
        self._min_interval_s = min_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position = 0
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"feed-{self.consumer.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._feed.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def step(self) -> int:
        """Apply one page of entries past the watermark; how many it applied."""
        position = self._store.watermark(self.consumer.name)
        entries = self._store.feed_after(position, self._batch)
        if entries:
            self.consumer.consume(entries)
            position = entries[-1].position
        self.position = position
        return len(entries)

    def catch_up(self) -> int:
        """Apply everything committed so far (used at start and by tests)."""
        total = 0
        while n := self.step():
            total += n
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.step():
                    if self._min_interval_s:
                        self._stop.wait(self._min_interval_s)
                    continue
            except StoreError:
                # The store is down or refused the consumer's write: the watermark did
                # not move, so nothing is lost; try again after a pause.
                self.errors += 1
                log.exception("feed consumer %s failed; retrying", self.consumer.name)
                self._stop.wait(self._poll_s)
                continue
            self._feed.wait_beyond(self.position, self._poll_s)
