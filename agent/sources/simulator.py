"""The notebook's simulated sensor fleet as a ``Source``: deterministic, seekable and fast.

``Simulator`` serves the stream that ``agent.sources.fleet_model`` defines (sensor
attributes, anomaly episodes, rounds of readings), a round at a time: reading ``k`` is
sensor ``k mod S`` at that sensor's reading number ``k // S``, and ``start=k`` only
generates the round that holds ``k``. ``expected_stream`` replays the same stream for
test ledgers. See docs/sources.md for the model.
"""

from __future__ import annotations

import logging
import secrets
import time

import numpy as np

from edgewatch.agent.sources.base import Clock, Pacer, SensorInfo
from edgewatch.agent.sources.fleet_model import (
    DEFAULT_ANOMALY_PROBABILITY,
    DEFAULT_MEAN_EPISODE_S,
    KINDS,
    ROUND_TARGET,
    SENSOR_TYPES,
    IntArray,
    Round,
    RoundGenerator,
    SimConfig,
    SimFleet,
    build_fleet,
)
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch

# SimFleet-model names are re-exported: callers have always imported them from here.
__all__ = [
    "KINDS",
    "SENSOR_TYPES",
    "IntArray",
    "SimConfig",
    "SimFleet",
    "Simulator",
    "build_fleet",
    "expected_stream",
]

log = logging.getLogger(__name__)


def _sensor_hz(rate: float, sensors: int) -> float:
    """Per-sensor simulated readings/s: the paced rate shared out, 1 Hz when unpaced."""
    return rate / sensors if rate > 0 else 1.0


class Simulator:
    """The simulated fleet as a ``Source``.

    ``episode_rate`` (default: ``rate``) is the total rate the simulated clock assumes;
    it sets episode lengths in readings, so it is part of what defines the stream.

    >>> sim = Simulator(seed=1, sensors=3, count=5)
    >>> [len(sim.poll(2) or []) for _ in range(4)], sim.poll(2)
    ([2, 2, 1, 0], None)
    """

    def __init__(
        self,
        *,
        seed: int | None,
        sensors: int,
        sensor_offset: int = 0,
        rate: float = 0.0,
        count: int | None = None,
        start: int = 0,
        anomaly_probability: float = DEFAULT_ANOMALY_PROBABILITY,
        mean_episode_s: float = DEFAULT_MEAN_EPISODE_S,
        episode_rate: float | None = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        if seed is None:
            seed = secrets.randbits(63)
            log.info("simulator seed not set; using seed=%d", seed)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        config = SimConfig(
            seed=seed % 2**64,  # SeedSequence takes non-negative entropy only
            sensors=sensors,
            sensor_offset=sensor_offset,
            anomaly_probability=anomaly_probability,
            mean_episode_s=mean_episode_s,
            sensor_hz=_sensor_hz(rate if episode_rate is None else episode_rate, sensors),
        )
        self.seed = seed
        self._gen = RoundGenerator(config)
        self._pacer = Pacer(rate, clock=clock)
        self._wall = wall
        self._count = count
        self._position = start
        self._round: Round | None = None

    @property
    def sensors(self) -> list[SensorInfo]:
        return list(self._gen.fleet.sensors)

    @property
    def position(self) -> int:
        return self._position

    def wait_hint(self) -> float:
        return self._pacer.wait_hint()

    def poll(self, max_n: int) -> ReadingBatch | None:
        remaining = None if self._count is None else self._count - self._position
        if remaining is not None and remaining <= 0:
            return None
        n = self._pacer.take(max_n if remaining is None else min(max_n, remaining))
        pieces = []
        while n > 0:
            piece = self._slice(n)
            pieces.append(piece)
            n -= len(piece)
        if not pieces:
            return ReadingBatch([], [], np.empty(0), {m: np.empty(0) for m in SIM_METRICS})
        batch = pieces[0] if len(pieces) == 1 else ReadingBatch.concat(pieces)
        batch.ts[:] = self._wall()
        return batch

    def _slice(self, n: int) -> ReadingBatch:
        """Up to ``n`` readings from the round holding ``position``; advances it."""
        per_round = self._gen.config.round_len * self._gen.config.sensors
        r = self._position // per_round
        if self._round is None or self._round.first != r * per_round:
            self._round = self._gen.round(r)
        a = self._position - self._round.first
        b = min(per_round, a + n)
        self._position += b - a
        return ReadingBatch(
            sensor_id=self._round.sensor_id[a:b],
            sensor_type=self._round.sensor_type[a:b],
            ts=np.empty(b - a),
            metrics={m: v[a:b].copy() for m, v in self._round.metrics.items()},
            status=self._round.status[a:b],
            label=self._round.label[a:b],
        )


def expected_stream(
    seed: int,
    sensors: int,
    sensor_offset: int = 0,
    count: int = 0,
    *,
    start: int = 0,
    rate: float = 0.0,
    anomaly_probability: float = DEFAULT_ANOMALY_PROBABILITY,
    mean_episode_s: float = DEFAULT_MEAN_EPISODE_S,
) -> ReadingBatch:
    """Readings ``start .. count - 1`` of the stream, for test ledgers (``ts`` is 0).

    ``rate`` only sets the simulated clock (episode lengths), never pacing here: pass
    the agent's rate to reproduce its stream.
    """
    sim = Simulator(
        seed=seed,
        sensors=sensors,
        sensor_offset=sensor_offset,
        count=count,
        start=start,
        anomaly_probability=anomaly_probability,
        mean_episode_s=mean_episode_s,
        episode_rate=rate,
        wall=lambda: 0.0,
    )
    batches = []
    while (batch := sim.poll(ROUND_TARGET)) is not None:
        batches.append(batch)
    return ReadingBatch.concat(batches)
