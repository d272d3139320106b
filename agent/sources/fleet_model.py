"""The simulated fleet's stream model: sensors, anomaly episodes and rounds of readings.

Reading ``k`` is sensor ``k mod S`` (round robin over this agent's ``S`` sensors) at that
sensor's reading number ``j = k // S``. Three independent random streams, all keyed by
the seed, make it a pure function of ``(seed, sensors, sensor_offset, anomaly settings,
rate)`` (the rate sets the simulated clock, hence episode lengths in readings):

* sensor attributes from ``rng([seed, ATTR, i // 1024])``: a property of sensor number
  ``i`` alone, so agents sharing a seed describe one consistent fleet (``build_fleet``);
* anomaly episodes from ``rng([seed, EPISODE, i, chunk])``: each sensor's own schedule,
  walked chunk by chunk (``EpisodeTrack``);
* noise from ``rng([seed, NOISE, offset, S, round])`` per round of about 8k readings
  (``RoundGenerator``).

A sensor on its own clock (``agent.sources.sensor_clock``, an assigned simulated sensor)
shares the first two and draws its noise per sensor: ``rng([seed, CLOCK_NOISE, i, block])``.
Both go through ``synthesize`` (noise, the notebook's effects, status, clipping, rounding).

Nothing depends on poll sizes or timing, and generating the round that holds reading
``k`` only costs a cheap walk over episode chunks. ``agent.sources.simulator`` serves
these rounds as a ``Source``. See docs/sources.md for the model.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgewatch.agent.sources.base import SensorInfo
from edgewatch.shared.desired import DEFAULT_ANOMALY_PROBABILITY as DEFAULT_ANOMALY_PROBABILITY
from edgewatch.shared.desired import DEFAULT_MEAN_EPISODE_S as DEFAULT_MEAN_EPISODE_S
from edgewatch.shared.readings import SIM_METRICS, FloatArray

IntArray = npt.NDArray[np.int64]
ROUND_TARGET = 8192  # readings per generated round: big enough to amortise numpy calls
_EPISODE_CHUNK = 256  # episodes drawn per generator call while walking a schedule
_ATTR_BLOCK = 1024  # sensors whose attributes one generator call draws
_TAG_ATTR, _TAG_EPISODE, _TAG_NOISE = 1, 2, 3
TAG_CLOCK_NOISE = 4  # noise of a sensor on its own clock (agent.sources.sensor_clock)
# The one default of the simulator's episode process, used by SimConfig, Simulator,
# expected_stream and the agent's settings alike. Per reading, while normal: at one
# reading per second per sensor and 30 s episodes about 13 % of readings are anomalous
# (the notebook's 0.05 gave ~60 %); the share grows with the per-sensor rate, since an
# episode lasts simulated seconds (see docs/sources.md for the formula).
# (defined with the wire schema of simulated sensors, shared.desired, which says the same)
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
    infos: list[SensorInfo] = []
    rows: list[FloatArray] = []
    for i in numbers.tolist():
        kinds, base, place = _attributes(seed, i // _ATTR_BLOCK)
        at = i % _ATTR_BLOCK
        sensor_type = SENSOR_TYPES[int(kinds[at])]
        lat, lon = float(place[at, 0]), float(place[at, 1])
        infos.append(SensorInfo(f"SENSOR_{i:03d}", sensor_type, lat, lon))
        rows.append(base[at])
    return SimFleet(infos, np.vstack(rows))


@functools.lru_cache(maxsize=16)
def _attributes(seed: int, block: int) -> tuple[IntArray, FloatArray, FloatArray]:
    """Types, base values and places of sensors ``block * 1024 ..`` (cached: sensors on
    their own clock ask for one sensor at a time). Read-only: the cache shares them."""
    rng = np.random.default_rng([seed, _TAG_ATTR, block])
    kinds = rng.integers(0, len(SENSOR_TYPES), _ATTR_BLOCK)
    base = rng.normal(
        [25.0, 60.0, 1013.0, 0.5, 100.0], [5.0, 15.0, 20.0, 0.1, 20.0], (_ATTR_BLOCK, 5)
    )
    place = rng.uniform([-90.0, -180.0], [90.0, 180.0], (_ATTR_BLOCK, 2))
    for array in (kinds, base, place):
        array.setflags(write=False)
    return kinds, base, place


class EpisodeTrack:
    """One sensor's episodes as ``[start, end)`` runs of its reading numbers.

    The notebook's process is a renewal process: while normal, each reading starts an
    episode with probability p (so the normal gap is geometric); an episode lasts while
    ``t - t_start <= Exp(mean)`` in simulated time. Cycles are drawn in fixed chunks from
    a generator keyed by the chunk number, so the schedule never depends on who asks.

    Chunk ``c`` starts where chunk ``c - 1`` ends, so finding the chunk that holds
    reading ``j`` walks the chunks before it once (two draws of 256 values each, about
    60k readings per chunk with the defaults); the boundaries found are kept, so later
    queries anywhere behind the furthest one, backwards too, load one chunk directly.
    """

    __slots__ = ("_bounds", "_chunk", "_codes", "_config", "_ends", "_number", "_starts")

    def __init__(self, config: SimConfig, number: int) -> None:
        self._config = config
        self._number = number
        self._chunk = -1  # the chunk whose episodes are loaded
        # _bounds[c]: reading number where chunk c's first gap begins (chunk c holds
        # the episodes of [_bounds[c], _bounds[c + 1])).
        self._bounds: list[int] = [0]
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._codes: list[int] = []

    def paint(self, row: IntArray, j0: int) -> None:
        """Write each reading's episode code (0: none) into ``row`` for ``j0 ..``."""
        j1 = j0 + len(row)
        self._seek(j0)
        while True:
            i = bisect_right(self._ends, j0)
            while i < len(self._starts) and self._starts[i] < j1:
                row[max(self._starts[i], j0) - j0 : min(self._ends[i], j1) - j0] = self._codes[i]
                i += 1
            if self._bounds[self._chunk + 1] >= j1:
                return
            self._load(self._chunk + 1)

    def _seek(self, j: int) -> None:
        """Load the chunk that holds reading ``j``."""
        c = self._chunk
        if c >= 0 and self._bounds[c] <= j < self._bounds[c + 1]:
            return
        if j < self._bounds[-1]:
            self._load(bisect_right(self._bounds, j) - 1)
            return
        while True:  # walk on from the furthest chunk known, keeping where each ends
            chunk = len(self._bounds) - 1
            rng = self._rng(chunk)
            gaps, lengths = self._cycles(rng)
            end = self._bounds[chunk] + int((gaps + lengths).sum())
            if j < end:
                self._fill(chunk, rng, gaps, lengths)
                return
            self._bounds.append(end)

    def _rng(self, chunk: int) -> np.random.Generator:
        return np.random.default_rng([self._config.seed, _TAG_EPISODE, self._number, chunk])

    def _cycles(self, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        """The chunk's normal gaps and episode lengths, in readings (its first draws)."""
        cfg = self._config
        gaps = rng.geometric(cfg.anomaly_probability, _EPISODE_CHUNK) - 1
        seconds = rng.exponential(cfg.mean_episode_s, _EPISODE_CHUNK)
        lengths = np.floor(seconds * cfg.sensor_hz).astype(np.int64) + 1
        return gaps, lengths

    def _load(self, chunk: int) -> None:
        rng = self._rng(chunk)
        self._fill(chunk, rng, *self._cycles(rng))

    def _fill(
        self, chunk: int, rng: np.random.Generator, gaps: IntArray, lengths: IntArray
    ) -> None:
        """Make ``chunk`` the loaded one; ``rng`` has drawn its gaps and lengths."""
        kinds = rng.integers(0, len(KINDS), _EPISODE_CHUNK)
        signs = rng.integers(0, 4, _EPISODE_CHUNK)  # bit 0: temperature up, bit 1: power up
        ends = self._bounds[chunk] + np.cumsum(gaps + lengths)
        self._chunk = chunk
        self._starts = (ends - lengths).tolist()
        self._ends = ends.tolist()
        self._codes = (1 + kinds * 4 + signs).tolist()
        if len(self._bounds) == chunk + 1:
            self._bounds.append(self._ends[-1])


@dataclass(frozen=True, slots=True)
class Synth:
    """Generated readings, flat in reading order: metric values, status code, label."""

    values: FloatArray  # (metric of SIM_METRICS, reading)
    status: IntArray  # 0 normal, 1 warning, 2 alert
    label: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.status)

    @property
    def metrics(self) -> dict[str, FloatArray]:
        return dict(zip(SIM_METRICS, self.values, strict=True))

    def status_names(self) -> list[str | None]:
        names: list[str | None] = _STATUS[self.status].tolist()
        return names

    def labels(self) -> list[int | None]:
        labels: list[int | None] = self.label.astype(np.int64).tolist()
        return labels

    def slice(self, a: int, b: int) -> Synth:
        """Readings ``a .. b - 1`` (views, not copies)."""
        return Synth(self.values[:, a:b], self.status[a:b], self.label[a:b])

    def take(self, index: npt.NDArray[np.intp]) -> Synth:
        """The readings at ``index``, in that order."""
        return Synth(self.values[:, index], self.status[index], self.label[index])

    @staticmethod
    def concat(pieces: list[Synth]) -> Synth:
        return Synth(
            np.concatenate([p.values for p in pieces], axis=1),
            np.concatenate([p.status for p in pieces]),
            np.concatenate([p.label for p in pieces]),
        )


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
        self._tracks = [EpisodeTrack(config, first + s) for s in range(config.sensors)]

    def round(self, r: int) -> Round:
        cfg = self.config
        rlen = cfg.round_len
        codes = np.zeros((cfg.sensors, rlen), dtype=np.int64)
        if cfg.anomaly_probability > 0:
            for s, track in enumerate(self._tracks):
                track.paint(codes[s], r * rlen)
        rng = np.random.default_rng([cfg.seed, _TAG_NOISE, cfg.sensor_offset, cfg.sensors, r])
        # (metric, j, sensor): reading order once raveled
        synth = synthesize(self.fleet.base.T[:, None, :], codes.T, rng)
        ids = [s.sensor_id for s in self.fleet.sensors]
        types = [s.sensor_type for s in self.fleet.sensors]
        return Round(
            first=r * rlen * cfg.sensors,
            sensor_id=ids * rlen,
            sensor_type=types * rlen,
            metrics=synth.metrics,
            status=synth.status_names(),
            label=synth.labels(),
        )


def synthesize(base: FloatArray, codes: IntArray, rng: np.random.Generator) -> Synth:
    """Readings of the notebook's model for episode ``codes`` (any shape), from ``rng``.

    ``base`` broadcasts against ``(5, *codes.shape)``. Draws, in this order: the noise
    (``standard_normal``, 5 per reading) and the effect sizes (``random``, 3 per
    reading); then the effects, the status rule, clipping and rounding.
    """
    sd = _NOISE_SD.reshape((5,) + (1,) * codes.ndim)
    noise = rng.standard_normal((5, *codes.shape)) * sd
    values = base + noise
    magnitude = rng.random((3, *codes.shape))
    label = _apply_episodes(values, codes, magnitude)
    status = _status(values, label)
    out = np.empty((len(SIM_METRICS), codes.size))
    for m in range(len(SIM_METRICS)):
        out[m] = np.round(np.clip(values[m], *_CLIP[m]), _DECIMALS[m]).ravel()
    return Synth(out, status.ravel(), label.ravel())


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
