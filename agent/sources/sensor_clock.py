"""One simulated sensor on its own clock: the stream an assigned simulated sensor emits.

Reading ``j`` of a sensor is due at ``t0 + j / rate_hz`` and carries exactly that time
as ``ts``. Its values depend only on ``(seed, number, j)``, never on which agent runs the
sensor or since when, so a sensor moved to another agent continues its stream and two
owners of one sensor produce the same ``(sensor_id, ts)`` with the same values:

* attributes (type, base values, place) are sensor ``number``'s in the simulated fleet
  (``fleet_model.build_fleet(seed, 1, offset=number)``), so ``SENSOR_007`` is the same
  sensor here and in ``--source simulate``;
* anomaly episodes are that sensor's own schedule (``fleet_model.EpisodeTrack`` keyed
  ``(seed, number)``, its simulated clock at ``rate_hz``);
* noise and effect sizes come from ``rng([seed, TAG_CLOCK_NOISE, number, b])`` for the
  block ``b = (j + number % BLOCK) // BLOCK`` of ``BLOCK`` readings, so any ``j`` is
  produced without the history before it (the phase staggers when sensors cross a
  block, which costs about 0.4 ms to generate).

>>> from edgewatch.shared.desired import SimulatedSource
>>> s = SensorClockStream(SimulatedSource(seed=1, number=7, rate_hz=2.0, t0=1.8e9), "SENSOR_007")
>>> batch = s.readings(10, 13)
>>> batch.ts.tolist(), batch.sensor_id[0]
([1800000005.0, 1800000005.5, 1800000006.0], 'SENSOR_007')
>>> s.next_index(1800000005.2), s.due_count(1800000005.5)
(11, 12)
"""

from __future__ import annotations

import math

import numpy as np

from edgewatch.agent.sources.base import SensorInfo
from edgewatch.agent.sources.fleet_model import (
    TAG_CLOCK_NOISE,
    EpisodeTrack,
    SimConfig,
    Synth,
    build_fleet,
    synthesize,
)
from edgewatch.shared.desired import SimulatedSource
from edgewatch.shared.readings import FloatArray, ReadingBatch

__all__ = ["BLOCK", "SensorClockStream"]

# Readings per noise generator: any j costs one block (about 30 us), and one cached
# block per sensor is about 12 KB (2,000 assigned sensors: ~25 MB).
BLOCK = 256


class SensorClockStream:
    """Readings ``j = 0, 1, ...`` of one simulated sensor, for any range, vectorised.

    ``sensor_type`` (default: the fleet model's type for ``number``) is only the label
    the readings carry; the values always follow sensor ``number``.
    """

    def __init__(
        self, source: SimulatedSource, sensor_id: str, sensor_type: str | None = None
    ) -> None:
        fleet = build_fleet(source.seed, 1, offset=source.number)
        model = fleet.sensors[0]
        self.source = source
        self.t0 = source.t0
        self.rate_hz = source.rate_hz
        self.sensor_id = sensor_id
        self.sensor_type = sensor_type or model.sensor_type
        self.info = SensorInfo(sensor_id, self.sensor_type, model.latitude, model.longitude)
        self._base: FloatArray = fleet.base[0][:, None]  # (metric, 1): broadcasts per reading
        self._episodes = source.anomaly_probability > 0
        config = SimConfig(
            seed=source.seed,
            sensors=1,
            sensor_offset=source.number,
            anomaly_probability=source.anomaly_probability,
            mean_episode_s=source.mean_episode_s,
            sensor_hz=source.rate_hz,
        )
        self._track = EpisodeTrack(config, source.number)
        # Block b holds readings b * BLOCK - phase ..: sensors cross block boundaries at
        # different readings, so a fleet on one clock never generates all at once.
        self._phase = source.number % BLOCK
        self._cached: tuple[int, Synth] | None = None

    # -- the clock ------------------------------------------------------------------------

    def ts(self, j: int) -> float:
        """When reading ``j`` is due, and its ``ts``."""
        return self.t0 + j / self.rate_hz

    def next_index(self, t: float) -> int:
        """The first reading due at or after wall time ``t`` (0 before ``t0``)."""
        j = max(0, math.ceil((t - self.t0) * self.rate_hz))
        # The product may round either way; settle on ts(j - 1) < t <= ts(j) exactly.
        while j > 0 and self.ts(j - 1) >= t:
            j -= 1
        while self.ts(j) < t:
            j += 1
        return j

    def due_count(self, t: float) -> int:
        """How many readings are due by wall time ``t``: those with ``ts <= t``."""
        j = max(0, math.floor((t - self.t0) * self.rate_hz) + 1)
        while j > 0 and self.ts(j - 1) > t:
            j -= 1
        while self.ts(j) <= t:
            j += 1
        return j

    # -- readings -------------------------------------------------------------------------

    def readings(self, j0: int, j1: int) -> ReadingBatch:
        """Readings ``j0 .. j1 - 1`` (any range, in any order of calls)."""
        cols = self.columns(j0, j1)
        n = j1 - j0
        return ReadingBatch(
            sensor_id=[self.sensor_id] * n,
            sensor_type=[self.sensor_type] * n,
            ts=self.t0 + np.arange(j0, j1, dtype=np.float64) / self.rate_hz,
            metrics=cols.metrics,
            status=cols.status_names(),
            label=cols.labels(),
        )

    def columns(self, j0: int, j1: int) -> Synth:
        """The values of readings ``j0 .. j1 - 1`` as columns (what ``readings`` wraps)."""
        if j0 < 0 or j1 < j0:
            raise ValueError(f"need 0 <= j0 <= j1, got {j0}, {j1}")
        pieces: list[Synth] = []
        j = j0
        while j < j1 or not pieces:
            b = (j + self._phase) // BLOCK
            first = b * BLOCK - self._phase  # reading number of the block's first slot
            z = min(j1 - first, BLOCK)
            pieces.append(self._block(b).slice(j - first, z))
            j = first + z
        return pieces[0] if len(pieces) == 1 else Synth.concat(pieces)

    def _block(self, b: int) -> Synth:
        if self._cached is not None and self._cached[0] == b:
            return self._cached[1]
        first = b * BLOCK - self._phase
        codes = np.zeros(BLOCK, dtype=np.int64)
        if self._episodes:
            skip = max(0, -first)  # block 0 starts before reading 0
            self._track.paint(codes[skip:], first + skip)
        src = self.source
        rng = np.random.default_rng([src.seed, TAG_CLOCK_NOISE, src.number, b])
        synth = synthesize(self._base, codes, rng)
        self._cached = (b, synth)
        return synth
