"""Rate-limited warnings, so a misbehaving agent (or sensor) cannot flood a log."""

from __future__ import annotations

import logging
import threading
from typing import Any

from edgewatch.shared.clock import SYSTEM, Clock


class RateLimitedLog:
    """Logs the first warning per ``key`` in each ``interval_s``, counting the rest.

    The next warning that gets through says how many were held back, so the log stays
    honest about volume while staying readable.
    """

    def __init__(
        self, logger: logging.Logger, interval_s: float = 10.0, *, clock: Clock = SYSTEM
    ) -> None:
        self._log = logger
        self._clock = clock
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        """Log unless ``key`` was logged less than ``interval_s`` ago; True if logged."""
        now = self._clock.monotonic()
        with self._lock:
            if now - self._last.get(key, -self._interval) < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            self._log.warning(msg + " (%d similar held back)", *args, held)
        else:
            self._log.warning(msg, *args)
        return True
