"""The simulated fleet's stream model: sensors, anomaly episodes and rounds of readings.

Reading ``k`` is sensor ``k mod S`` (round robin over this agent's ``S`` sensors) at that
sensor's reading number ``j = k // S``. Three independent random streams, all keyed by
the seed, make it a pure function of ``(seed, sensors, sensor_offset, anomaly settings,
rate)`` (the rate sets the simulated clock, hence episode lengths in readings):

* sensor attributes from ``rng([seed, ATTR, i // 1024])``: a property of sensor number
  ``i`` alone, so agents sharing a seed describe one consistent fleet (``build_fleet``);
* anomaly episodes from ``rng([seed, EPISODE, i, chunk])``: each sensor's own schedule,
  walked chunk by chunk (``_EpisodeTrack``);
* noise from ``rng([seed, NOISE, offset, S, round])`` per round of about 8k readings
  (``RoundGenerator``).

Nothing depends on poll sizes or timing, and generating the round that holds reading
``k`` only costs a cheap walk over episode chunks. ``agent.sources.simulator`` serves
these rounds as a ``Source``. See docs/sources.md for the model.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgewatch.agent.sources.base import SensorInfo
from edgewatch.shared.readings import SIM_METRICS, FloatArray

IntArray = npt.NDArray[np.int64]
ROUND_TARGET = 8192  # readings per generated round: big enough to amortise numpy calls
_EPISODE_CHUNK = 256  # episodes drawn per generator call while walking a schedule
_ATTR_BLOCK = 1024  # sensors whose attributes one generator call draws
_TAG_ATTR, _TAG_EPISODE, _TAG_NOISE = 1, 2, 3
# The one default of the simulator's episode process, used by SimConfig, Simulator,
# expected_stream and the agent's settings alike. Per reading, while normal: at one
# reading per second per sensor and 30 s episodes about 13 % of readings are anomalous
# (the notebook's 0.05 gave ~60 %); the share grows with the per-sensor rate, since an
# episode lasts simulated seconds (see docs/sources.md for the formula).
DEFAULT_ANOMALY_PROBABILITY = 0.005
DEFAULT_MEAN_EPISODE_S = 30.0
SENSOR_TYPES = ("industrial", "environmental", "automotive", "medical")
_STATUS = np.array(["normal", "warning", "alert"], dtype=object)
# Episode kinds, in the order they are drawn; "multiple" applies all three effects.
KINDS = ("temperature", "vibration", "power", "multiple")
# Per metric: noise sd, clip range and decimals, as in the notebook.
_NOISE_SD = np.array([2.0, 5.0, 5.0, 0.1, 5.0])
_CLIP = ((-40.0, 80.0), (0.0, 100.0), (900.0, 1100.0), (0.0, 10.0), (0.0, 500.0))
_DECIMALS = (2, 2, 2, 3, 2)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulated stream depends on."""

    seed: int
    sensors: int
    sensor_offset: int = 0
    anomaly_probability: float = DEFAULT_ANOMALY_PROBABILITY
    mean_episode_s: float = DEFAULT_MEAN_EPISODE_S
    sensor_hz: float = 1.0  # simulated readings per second per sensor (episode durations)

    def __post_init__(self) -> None:
        if self.sensors < 1 or self.sensor_offset < 0:
            raise ValueError("need sensors >= 1 and sensor_offset >= 0")
        if not 0.0 <= self.anomaly_probability <= 1.0:
            raise ValueError("anomaly_probability must be in [0, 1]")
        if self.mean_episode_s <= 0 or self.sensor_hz <= 0:
            raise ValueError("mean_episode_s and sensor_hz must be > 0")

    @property
    def round_len(self) -> int:
        """Readings per sensor in one generated round."""
        return max(1, math.ceil(ROUND_TARGET / self.sensors))


@dataclass(frozen=True, slots=True)
class SimFleet:
    """The attributes of sensors ``offset .. offset + S - 1``."""

    sensors: list[SensorInfo]
    base: FloatArray  # (S, 5): base value per sensor and metric of ``SIM_METRICS``


def build_fleet(seed: int, sensors: int, offset: int = 0) -> SimFleet:
    """Sensor ``i``'s type, base values and place: a pure function of ``(seed, i)``."""
    numbers = np.arange(offset, offset + sensors)
    blocks: dict[int, tuple[npt.NDArray[np.int64], FloatArray, FloatArray]] = {}
    for b in np.unique(numbers // _ATTR_BLOCK).tolist():
        rng = np.random.default_rng([seed, _TAG_ATTR, b])
        kinds = rng.integers(0, len(SENSOR_TYPES), _ATTR_BLOCK)
        base = rng.normal(
            [25.0, 60.0, 1013.0, 0.5, 100.0], [5.0, 15.0, 20.0, 0.1, 20.0], (_ATTR_BLOCK, 5)
        )
        place = rng.uniform([-90.0, -180.0], [90.0, 180.0], (_ATTR_BLOCK, 2))
        blocks[b] = (kinds, base, place)
    infos: list[SensorInfo] = []
    rows: list[FloatArray] = []
    for i in numbers.tolist():
        kinds, base, place = blocks[i // _ATTR_BLOCK]
        at = i % _ATTR_BLOCK
        sensor_type = SENSOR_TYPES[int(kinds[at])]
        lat, lon = float(place[at, 0]), float(place[at, 1])
        infos.append(SensorInfo(f"SENSOR_{i:03d}", sensor_type, lat, lon))
        rows.append(base[at])
    return SimFleet(infos, np.vstack(rows))


class _EpisodeTrack:
    """One sensor's episodes as ``[start, end)`` runs of its reading numbers.

    The notebook's process is a renewal process: while normal, each reading starts an
    episode with probability p (so the normal gap is geometric); an episode lasts while
    ``t - t_start <= Exp(mean)`` in simulated time. Cycles are drawn in fixed chunks from
    a generator keyed by the chunk number, so the schedule never depends on who asks.
    Queries must move forward (they do: rounds are generated in order).
    """

    __slots__ = ("_chunk", "_codes", "_config", "_end", "_ends", "_number", "_starts")

    def __init__(self, config: SimConfig, number: int) -> None:
        self._config = config
        self._number = number
        self._chunk = -1
        self._end = 0  # reading number where the next chunk's first gap begins
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._codes: list[int] = []

    def paint(self, row: IntArray, j0: int) -> None:
        """Write each reading's episode code (0: none) into ``row`` for ``j0 ..``."""
        j1 = j0 + len(row)
        while True:
            i = bisect_right(self._ends, j0)
            while i < len(self._starts) and self._starts[i] < j1:
                row[max(self._starts[i], j0) - j0 : min(self._ends[i], j1) - j0] = self._codes[i]
                i += 1
            if self._end >= j1:
                return
            self._next_chunk()

    def _next_chunk(self) -> None:
        cfg = self._config
        self._chunk += 1
        rng = np.random.default_rng([cfg.seed, _TAG_EPISODE, self._number, self._chunk])
        gaps = rng.geometric(cfg.anomaly_probability, _EPISODE_CHUNK) - 1
        seconds = rng.exponential(cfg.mean_episode_s, _EPISODE_CHUNK)
        lengths = np.floor(seconds * cfg.sensor_hz).astype(np.int64) + 1
        kinds = rng.integers(0, len(KINDS), _EPISODE_CHUNK)
        signs = rng.integers(0, 4, _EPISODE_CHUNK)  # bit 0: temperature up, bit 1: power up
        ends = self._end + np.cumsum(gaps + lengths)
        self._starts = (ends - lengths).tolist()
        self._ends = ends.tolist()
        self._codes = (1 + kinds * 4 + signs).tolist()
        self._end = self._ends[-1]


@dataclass(frozen=True, slots=True)
class Round:
    """Readings ``first .. first + len - 1`` of the stream, columnar."""

    first: int
    sensor_id: list[str]
    sensor_type: list[str]
    metrics: dict[str, FloatArray]
    status: list[str | None]
    label: list[int | None]


class RoundGenerator:
    """Generates rounds of the stream for one configuration."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.fleet: SimFleet = build_fleet(config.seed, config.sensors, config.sensor_offset)
        first = config.sensor_offset
        self._tracks = [_EpisodeTrack(config, first + s) for s in range(config.sensors)]

    def round(self, r: int) -> Round:
        cfg = self.config
        rlen = cfg.round_len
        codes = np.zeros((cfg.sensors, rlen), dtype=np.int64)
        if cfg.anomaly_probability > 0:
            for s, track in enumerate(self._tracks):
                track.paint(codes[s], r * rlen)
        rng = np.random.default_rng([cfg.seed, _TAG_NOISE, cfg.sensor_offset, cfg.sensors, r])
        noise = rng.standard_normal((5, rlen, cfg.sensors)) * _NOISE_SD[:, None, None]
        values = self.fleet.base.T[:, None, :] + noise  # (metric, j, sensor): reading order
        magnitude = rng.random((3, rlen, cfg.sensors))
        label = _apply_episodes(values, codes.T, magnitude)
        status = _status(values, label)
        metrics: dict[str, FloatArray] = {}
        for m, name in enumerate(SIM_METRICS):
            clipped = np.clip(values[m], *_CLIP[m])
            metrics[name] = np.round(clipped, _DECIMALS[m]).ravel()
        ids = [s.sensor_id for s in self.fleet.sensors]
        types = [s.sensor_type for s in self.fleet.sensors]
        labels: list[int | None] = list(label.ravel().astype(np.int64).tolist())
        return Round(
            first=r * rlen * cfg.sensors,
            sensor_id=ids * rlen,
            sensor_type=types * rlen,
            metrics=metrics,
            status=_STATUS[status.ravel()].tolist(),
            label=labels,
        )


def _apply_episodes(
    values: FloatArray, codes: IntArray, magnitude: FloatArray
) -> npt.NDArray[np.bool_]:
    """Add the notebook's anomaly effects in place; returns the ground-truth label."""
    label = codes > 0
    kind = (codes - 1) >> 2
    signs = (codes - 1) & 3
    multiple = kind == 3
    hot = label & ((kind == 0) | multiple)
    shaky = label & ((kind == 1) | multiple)
    power = label & ((kind == 2) | multiple)
    values[0] += hot * np.where(signs & 1, 1.0, -1.0) * (10.0 + 10.0 * magnitude[0])
    values[3] += shaky * (2.0 + 3.0 * magnitude[1])
    values[4] += power * np.where(signs & 2, 1.0, -1.0) * (30.0 + 30.0 * magnitude[2])
    return label


def _status(values: FloatArray, label: npt.NDArray[np.bool_]) -> IntArray:
    """The notebook's rule on unclipped values: 0 normal, 1 warning, 2 alert."""
    temp, vib, power = values[0], values[3], values[4]
    alert = label | (temp > 45) | (vib > 3.0) | (power < 20)
    warning = (temp > 35) | (vib > 2.0) | (power < 50)
    return np.where(alert, 2, np.where(warning, 1, 0)).astype(np.int64)
