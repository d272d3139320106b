"""Time, passed in: every window, timeout, soak period and hold-down reads a ``Clock``.

Production code takes ``SYSTEM`` by default; tests pass a ``ManualClock`` and move it
forward, so a five-minute soak or a 30-second hold-down is tested in microseconds and
exactly, never by sleeping.

>>> clock = ManualClock(wall=1_000.0)
>>> clock.advance(2.5)
>>> clock.monotonic(), clock.time()
(2.5, 1002.5)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (what timestamps are made of)."""
        ...

    def monotonic(self) -> float:
        """Seconds that only move forward (what durations are measured with)."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM: Clock = SystemClock()


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, wall: float = 1_800_000_000.0, mono: float = 0.0) -> None:
        self._wall = wall
        self._mono = mono
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._wall + self._mono

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._mono += seconds
