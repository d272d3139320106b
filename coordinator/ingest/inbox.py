"""The hand-off from paho's network thread to the ingest worker: a bounded queue.

The network thread must only enqueue. When the queue is full it blocks briefly
(backpressure: paho stops reading, the broker holds the messages) rather than drop;
only past ``block_s`` does it give up on one message, which is safe because an
unacked batch is resent by its agent.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from edgewatch.coordinator.ingest.judge import Inbound
from edgewatch.shared.ratelog import RateLimitedLog

log = logging.getLogger(__name__)


class Inbox:
    """Bounded FIFO of ``Inbound`` messages with counted backpressure."""

    def __init__(
        self, maxsize: int, *, block_s: float = 2.0, on_full: Callable[[], None] | None = None
    ) -> None:
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize)
        self._block_s = block_s
        self._open = threading.Event()
        self._open.set()
        self._warn = RateLimitedLog(log)
        self._on_full = on_full
        self.full = 0
        self.overflowed = 0
        self.refused_closed = 0

    def put(self, item: Inbound) -> bool:
        """Enqueue from the network thread; False if the message had to be let go."""
        if not self._open.is_set():
            # Shutting down: the agent resends whatever we never acked.
            self.refused_closed += 1
            return False
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.full += 1
            if self._on_full is not None:
                self._on_full()
        self._warn.warning("full", "ingest queue full (%d): applying backpressure", self.maxsize)
        try:
            self._queue.put(item, timeout=self._block_s)
            return True
        except queue.Full:
            self.overflowed += 1
            self._warn.warning(
                "overflow", "ingest queue still full after %.1fs: let one go", self._block_s
            )
            return False

    def drain(self, max_items: int, timeout: float) -> list[Inbound]:
        """Up to ``max_items`` messages, waiting at most ``timeout`` for the first."""
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(items) < max_items:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def close(self) -> None:
        """Stop accepting; what is queued can still be drained."""
        self._open.clear()

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    def depth(self) -> int:
        return self._queue.qsize()
