"""The source contract, and the pacing every source shares.

A source is a finite or endless, **deterministic** stream of readings, numbered from 0.
The agent polls it for micro-batches, persists ``position`` with what it scored, and
after a crash re-opens the source at that position so the stream continues instead of
repeating (``open_source(settings, start=k)``).

Pacing is separate from content: ``rate`` decides *when* readings are due, never *which*
readings come next, so poll sizes and stalls cannot change the stream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edgewatch.shared.desired import AssignedSensor
from edgewatch.shared.readings import ReadingBatch

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What a source knows about one of its sensors (announced to the coordinator)."""

    sensor_id: str
    sensor_type: str
    latitude: float | None
    longitude: float | None


@runtime_checkable
class Source(Protocol):
    """A stream of readings the agent polls."""

    @property
    def sensors(self) -> list[SensorInfo]:
        """Every sensor this source can emit."""
        ...

    @property
    def position(self) -> int:
        """Index of the next reading this source will emit (0-based over the whole stream)."""
        ...

    def poll(self, max_n: int) -> ReadingBatch | None:
        """Up to ``max_n`` readings due now; empty if none is due yet; None once exhausted."""
        ...

    def wait_hint(self) -> float:
        """Seconds until the next reading is due (0 if unpaced or due now)."""
        ...


@runtime_checkable
class AssignableSource(Source, Protocol):
    """A source whose sensors the coordinator sets at runtime (``--source assigned``)."""

    def check(self, sensors: Sequence[AssignedSensor]) -> list[str]:
        """Why ``sensors`` cannot be run here (empty: they can); changes nothing."""
        ...

    def apply(self, sensors: Sequence[AssignedSensor]) -> list[str]:
        """Run exactly ``sensors`` from now on; errors met on the way (kept running)."""
        ...

    def active(self) -> list[str]:
        """Ids of the sensors running now, sorted."""
        ...

    def problems(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Per sensor, readings missed (gaps) and site payloads refused by reason."""
        ...

    def close(self) -> None:
        """Let go of what the source holds open (a site broker link)."""
        ...


class Pacer:
    """Token-bucket pacing against a monotonic clock, started by the first ``take``.

    Slot ``e`` (counted from the first poll) is due at ``t0 + e / rate``. Computing the
    due count from the fixed ``t0`` instead of accumulating per-poll credit means rounding
    never adds up (no drift). After a stall, the slots beyond ``burst`` (about one
    second's worth) are forfeited, so a paused agent catches up gently instead of
    flooding the uplink; the stream itself skips nothing, only time slots are lost.

    >>> now = [0.0]
    >>> p = Pacer(10.0, clock=lambda: now[0])
    >>> p.take(100), p.wait_hint()
    (1, 0.1)
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be finite and >= 0, got {rate}")
        self.rate = rate
        self.burst = max(1, math.ceil(rate))
        self._clock = clock
        self._t0: float | None = None
        self._taken = 0  # slots used by emitted readings or forfeited after stalls

    def take(self, max_n: int) -> int:
        """How many readings (at most ``max_n``) may be emitted now; counts them as taken."""
        if max_n <= 0:
            return 0
        if self.rate == 0:
            return max_n
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        available = self._due(now) - self._taken
        if available > self.burst:
            self._taken += available - self.burst  # forget the stall
            available = self.burst
        n = max(0, min(max_n, available))
        self._taken += n
        return n

    def wait_hint(self) -> float:
        """Seconds until the next reading is due."""
        if self.rate == 0 or self._t0 is None:
            return 0.0
        due_at = self._t0 + self._taken / self.rate
        return max(0.0, due_at - self._clock())

    def _due(self, now: float) -> int:
        # Slot 0 is due at t0, slot e at t0 + e/rate. The nanosecond of slack keeps a slot
        # that is due "exactly now" from losing to the rounding of (now - t0) * rate.
        if self._t0 is None:
            return 0
        return math.floor((now - self._t0) * self.rate + 1e-9) + 1
