"""Many simulated sensors on their own clocks, scheduled together.

``ClockedSensors`` keeps, per sensor (a ``SensorClockStream``), the number of the next
reading to emit and answers, vectorised over all sensors: which readings are due by a
wall time (``ts <= now``), which of them are the earliest ``n`` (``candidates``), and the
readings themselves in ``ts`` order (``emit``). It also bounds catch-up: readings older
than a horizon are skipped and reported (``skip_before``).

A reading is emitted once or skipped once, never both and never twice, so the readings
of each sensor leave in the order of ``j`` whatever the poll sizes.
"""

from __future__ import annotations

import numpy as np

from edgewatch.agent.sources.fleet_model import IntArray, Synth
from edgewatch.agent.sources.sensor_clock import SensorClockStream
from edgewatch.shared.readings import FloatArray, ReadingBatch

__all__ = ["ClockedSensors"]


class ClockedSensors:
    """``streams`` (in this order) and the next reading of each, ``next_j``."""

    def __init__(self, streams: list[SensorClockStream], next_j: list[int]) -> None:
        self.streams = streams
        self.t0: FloatArray = np.array([s.t0 for s in streams], dtype=np.float64)
        self.rate: FloatArray = np.array([s.rate_hz for s in streams], dtype=np.float64)
        self.next_j: IntArray = np.array(next_j, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.streams)

    def positions(self) -> dict[str, tuple[SensorClockStream, int]]:
        """Sensor id -> (its stream, its next reading)."""
        return {s.sensor_id: (s, int(j)) for s, j in zip(self.streams, self.next_j, strict=True)}

    def next_ts(self) -> FloatArray:
        """When each sensor's next reading is due (its ``ts``)."""
        due: FloatArray = self.t0 + self.next_j / self.rate
        return due

    def due(self, now: float, max_n: int) -> IntArray:
        """Per sensor, how many of its readings are due by ``now`` (``ts <= now``), up to
        ``max_n`` each: ``SensorClockStream.due_count``, vectorised."""
        if not len(self):
            return np.zeros(0, dtype=np.int64)
        j = np.maximum(np.floor((now - self.t0) * self.rate).astype(np.int64) + 1, 0)
        # The product rounds either way by at most one reading: settle it exactly.
        j -= (j > 0) & (self.t0 + (j - 1) / self.rate > now)
        j += self.t0 + j / self.rate <= now
        counts: IntArray = np.clip(j - self.next_j, 0, max_n)
        return counts

    def skip_before(self, horizon: float) -> dict[str, int]:
        """Skip every reading due before ``horizon``; the readings skipped, per sensor."""
        skipped: dict[str, int] = {}
        if not len(self):
            return skipped
        for s in np.flatnonzero(self.next_ts() < horizon).tolist():
            stream = self.streams[s]
            j = stream.next_index(horizon)
            if j > self.next_j[s]:
                skipped[stream.sensor_id] = j - int(self.next_j[s])
                self.next_j[s] = j
        return skipped

    def candidates(self, counts: IntArray) -> tuple[IntArray, FloatArray]:
        """Owner (sensor index) and ``ts`` of the next ``counts[s]`` readings of each ``s``."""
        owner = np.repeat(np.arange(len(counts)), counts)
        starts = np.cumsum(counts) - counts
        j = self.next_j[owner] + (np.arange(len(owner)) - starts[owner])
        ts: FloatArray = self.t0[owner] + j / self.rate[owner]  # exactly SensorClockStream.ts
        return owner, ts

    def emit(self, counts: IntArray) -> ReadingBatch | None:
        """The next ``counts[s]`` readings of each sensor ``s``, in ``ts`` order (None if
        there are none); moves each sensor on past them."""
        if not int(counts.sum()):
            return None
        owner, ts = self.candidates(counts)
        pieces = []
        for s in np.flatnonzero(counts).tolist():
            j0 = int(self.next_j[s])
            pieces.append(self.streams[s].columns(j0, j0 + int(counts[s])))
            self.next_j[s] = j0 + int(counts[s])
        cols = pieces[0] if len(pieces) == 1 else Synth.concat(pieces)
        order = np.argsort(ts, kind="stable")
        if bool((np.diff(order) != 1).any()):
            owner, ts, cols = owner[order], ts[order], cols.take(order)
        who = owner.tolist()
        return ReadingBatch(
            sensor_id=[self.streams[s].sensor_id for s in who],
            sensor_type=[self.streams[s].sensor_type for s in who],
            ts=ts,
            metrics=cols.metrics,
            status=cols.status_names(),
            label=cols.labels(),
        )
