"""Sensors that changed owner lately, as a replica that does *not* hold the fleet duty
sees them: from the assignment events in the store.

The replica holding the fleet duty knows its moves in memory (``FleetDuty.handover_
sensors``); every other replica ingests too, and must drop the same handover overlaps
(two owners of one sensor for a moment send the same readings). Events carry the time
the duty made them (``at``, the holder's clock); a sensor counts as moved for
``window_s`` after that. The store is read at most every ``refresh_s``.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store import AssignmentEvent
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)
PAGE = 1000


class _Events(Protocol):
    def assignment_events(self, after: int, limit: int) -> list[AssignmentEvent]: ...


class RecentMoves:
    def __init__(
        self,
        store: _Events,
        *,
        window_s: float = 120.0,
        refresh_s: float = 1.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self._store = store
        self.window_s = window_s
        self.refresh_s = refresh_s
        self.clock = clock
        self._after = 0
        self._moved_at: dict[str, float] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def sensors(self) -> frozenset[str]:
        """Sensors moved within ``window_s`` (a stale answer if the store is down)."""
        with self._lock:
            if self.clock.monotonic() - self._read_at >= self.refresh_s:
                self._refresh()
            now = self.clock.time()
            for sid in [s for s, t in self._moved_at.items() if now - t > self.window_s]:
                del self._moved_at[sid]
            return frozenset(self._moved_at)

    def _refresh(self) -> None:
        self._read_at = self.clock.monotonic()
        try:
            while page := self._store.assignment_events(self._after, PAGE):
                for e in page:  # as the duty counts them: every event, first placements too
                    self._moved_at[e.sensor_id] = max(e.at, self._moved_at.get(e.sensor_id, 0))
                self._after = page[-1].event_id
                if len(page) < PAGE:
                    break
        except StoreError:
            log.warning("recent moves: store unavailable; using what was read before")
