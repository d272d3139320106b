"""The feature vector of a sensor type, computed the same way for training and scoring.

A ``FeatureSpec`` names the raw metrics of a sensor type in a fixed order and, optionally,
rolling-window statistics of each metric over the last ``window`` readings of the same
sensor. ``FeatureState`` computes the vectors for a stream of micro-batches and keeps a
bounded amount of history per sensor; ``compute_features`` is the same code run over one
batch from an empty state, which is what training uses. Because both paths run the very
same kernels, the agent and the coordinator cannot disagree on a feature value.

Definitions (per sensor, readings in batch order):

- *absent* metrics (NaN, or +-inf, or a column the batch lacks) are imputed by carrying
  the sensor's last value forward; a sensor with no value yet for that metric gets the
  spec's ``fill`` value (the training median, so a missing metric looks ordinary).
- the window holds the current reading and the ``window - 1`` before it; until a sensor
  has that many readings, its first reading stands in for the ones it does not have.
- ``mean``: mean of the window; ``std``: population standard deviation (ddof 0);
  ``delta``: newest minus oldest value of the window.
- ``lags``: the value ``L`` readings before the current one (``<metric>:lag@<L>``), for
  each lag and metric, padded like the window; lags let a model see the *shape* of the
  recent past (a ramp, a step, a change in correlation), not just its summary.

>>> spec = FeatureSpec(metrics=("t",), window=3, stats=("mean",))
>>> spec.names
('t', 't:mean@3')
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgewatch.shared.readings import FloatArray, ReadingBatch

ROLLING_STATS: tuple[str, ...] = ("mean", "std", "delta")
DEFAULT_MAX_SENSORS = 10_000
MAX_HISTORY = 256  # readings a window or lag may reach back: bounds the state per sensor


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which features a sensor type's model reads, in order. See the module docstring."""

    metrics: tuple[str, ...]
    window: int = 1
    stats: tuple[str, ...] = ()
    fill: tuple[float, ...] = ()
    lags: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics must be non-empty and distinct: {self.metrics}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, not {self.window}")
        unknown = set(self.stats) - set(ROLLING_STATS)
        if unknown or len(set(self.stats)) != len(self.stats):
            raise ValueError(f"stats must be distinct names from {ROLLING_STATS}: {self.stats}")
        if self.stats and self.window < 2:
            raise ValueError("rolling stats need window >= 2")
        if self.fill and len(self.fill) != len(self.metrics):
            raise ValueError("fill needs one value per metric")
        if not all(np.isfinite(self.fill)):
            raise ValueError("fill values must be finite")
        if any(lag < 1 for lag in self.lags) or len(set(self.lags)) != len(self.lags):
            raise ValueError(f"lags must be distinct integers >= 1: {self.lags}")
        if max(self.lags, default=0) > MAX_HISTORY or self.window > MAX_HISTORY + 1:
            raise ValueError(f"window and lags reach back at most {MAX_HISTORY} readings")

    @property
    def history(self) -> int:
        """Past readings per sensor the features need (the state kept per sensor)."""
        return max(self.window - 1, max(self.lags, default=0), 1)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in column order: raw metrics, then each stat for every metric."""
        rolled = tuple(f"{m}:{s}@{self.window}" for s in self.stats for m in self.metrics)
        lagged = tuple(f"{m}:lag@{lag}" for lag in self.lags for m in self.metrics)
        return self.metrics + rolled + lagged

    @property
    def fill_values(self) -> FloatArray:
        return np.asarray(self.fill or [0.0] * len(self.metrics), dtype=np.float64)

    def with_fill(self, values: Sequence[float]) -> FeatureSpec:
        fill = tuple(map(float, values))
        return FeatureSpec(self.metrics, self.window, self.stats, fill, self.lags)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metrics": list(self.metrics),
            "window": self.window,
            "stats": list(self.stats),
            "fill": list(self.fill),
        }
        if self.lags:  # absent in files written before lags existed, and still read
            out["lags"] = list(self.lags)
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of ``to_dict``; raises ``ValueError`` (or ``KeyError``) when malformed."""
        return FeatureSpec(
            metrics=tuple(str(m) for m in data["metrics"]),
            window=int(data.get("window", 1)),
            stats=tuple(str(s) for s in data.get("stats", ())),
            fill=tuple(float(v) for v in data.get("fill", ())),
            lags=tuple(int(v) for v in data.get("lags", ())),
        )


def metric_matrix(batch: ReadingBatch, metrics: Sequence[str]) -> FloatArray:
    """The batch's metrics as an ``(n, len(metrics))`` matrix; absent and +-inf are NaN."""
    return _metric_matrix(batch, metrics)[0]


def _metric_matrix(batch: ReadingBatch, metrics: Sequence[str]) -> tuple[FloatArray, bool]:
    """``metric_matrix`` and whether every value is present (nothing to impute)."""
    n = len(batch)
    if n == 1:  # one reading: plain floats, one array built
        nan = math.nan
        row = [
            float(c[0]) if (c := batch.metrics.get(name)) is not None else nan for name in metrics
        ]
        if all(map(math.isfinite, row)):
            return np.array([row]), True
        return np.array([[v if not math.isinf(v) else nan for v in row]]), False
    absent = np.full(n, np.nan)
    out = np.array([batch.metrics.get(name, absent) for name in metrics], dtype=np.float64).T
    if np.isfinite(out).all():  # one check for the common case of clean readings
        return np.ascontiguousarray(out), True
    return np.ascontiguousarray(np.where(np.isinf(out), np.nan, out)), False


def _carry_forward(rows: FloatArray, previous: FloatArray) -> FloatArray:
    """Replace NaN by the last non-NaN value above it, else by ``previous`` (per column)."""
    absent = np.isnan(rows)
    if not absent.any():
        return rows
    k = rows.shape[0]
    source = np.where(absent, -1, np.arange(k)[:, None])
    np.maximum.accumulate(source, axis=0, out=source)
    picked = rows[np.maximum(source, 0), np.arange(rows.shape[1])]
    return np.where(source >= 0, picked, previous)


def _windows(extended: FloatArray, k: int, width: int) -> FloatArray:
    """The last ``k`` windows of ``width`` rows of ``extended``, shaped ``(k, width, m)``.

    One reading (the agent's common case) is a plain slice; more are gathered at once.
    """
    if k == 1:
        return extended[None, -width:]
    start = extended.shape[0] - k - width + 1
    index = start + np.arange(k)[:, None] + np.arange(width)[None, :]
    out: FloatArray = extended[index]
    return out


def _rolling(windows: FloatArray, stats: Sequence[str]) -> list[FloatArray]:
    """Stats of ``windows`` shaped ``(k, W, m)``, each ``(k, m)``.

    Sums run one window position after the other (``add.accumulate`` is sequential by
    definition, unlike ``sum``, whose pairwise order depends on the array's shape): the
    same bits whatever the batch shape, so streaming and batch results are identical.
    """
    width = windows.shape[1]
    mean = np.add.accumulate(windows, axis=1)[:, -1]
    mean /= width
    out: list[FloatArray] = []
    for stat in stats:
        if stat == "mean":
            out.append(mean)
        elif stat == "std":
            square = windows - mean[:, None]
            np.multiply(square, square, out=square)
            np.add.accumulate(square, axis=1, out=square)
            total = square[:, -1]
            total /= width
            out.append(np.sqrt(total, out=total))
        else:  # delta
            out.append(windows[:, -1] - windows[:, 0])
    return out


class FeatureState:
    """Streaming feature computation with bounded memory per sensor.

    Holds, per sensor, the last ``spec.history`` imputed readings; at most
    ``max_sensors`` sensors are kept, the least recently seen is forgotten first (it
    then starts afresh, as a new sensor would). ``max_sensors=None`` means unbounded.
    Not thread-safe: one worker owns it, as it owns the ONNX session.
    """

    def __init__(self, spec: FeatureSpec, max_sensors: int | None = DEFAULT_MAX_SENSORS) -> None:
        if max_sensors is not None and max_sensors < 1:
            raise ValueError("max_sensors must be >= 1")
        self.spec = spec
        self.max_sensors = max_sensors
        self.evicted = 0
        self._tails: OrderedDict[str, FloatArray] = OrderedDict()
        self._keep = spec.history
        self._width = len(spec.names)  # computed once: the spec is frozen
        self._fill = spec.fill_values
        self._plain = not spec.stats and not spec.lags
        self._lag_rows = self._keep - np.asarray(spec.lags, dtype=np.intp)

    def __len__(self) -> int:
        return len(self._tails)

    def sensor_bytes(self) -> int:
        """Bytes of feature history kept per sensor (the numbers, not Python's overhead)."""
        return self._keep * len(self.spec.metrics) * 8

    def update(self, batch: ReadingBatch) -> FloatArray:
        """Feature matrix ``(len(batch), len(spec.names))`` for ``batch``; advances state."""
        values, complete = _metric_matrix(batch, self.spec.metrics)
        return self._update(batch.sensor_id, values, complete)

    def update_matrix(self, keys: Sequence[str], values: FloatArray) -> FloatArray:
        """Like ``update`` for a ready matrix of raw metric values (NaN = absent)."""
        return self._update(keys, values, not np.isnan(values).any())

    def _update(self, keys: Sequence[str], values: FloatArray, complete: bool) -> FloatArray:
        n = values.shape[0]
        out = np.empty((n, self._width))
        if n == 1 or len(set(keys)) == 1:  # one sensor: no grouping, no scatter
            self._sensor_features(keys[0], values, out, complete)
            return out
        for key, index in _group(keys).items():
            part = np.empty((len(index), self._width))
            self._sensor_features(key, values[index], part, complete)
            out[index] = part
        return out

    def _sensor_features(self, key: str, rows: FloatArray, out: FloatArray, complete: bool) -> None:
        """Write the features of one sensor's ``rows`` into ``out``; advance its tail."""
        tail = self._tails.pop(key, None)
        if not complete:
            rows = _carry_forward(rows, self._fill if tail is None else tail[-1])
        if tail is None:
            tail = np.repeat(rows[:1], self._keep, axis=0)
        extended = np.concatenate((tail, rows))
        keep = extended[-self._keep :]
        # A few new rows: keep a view (one row more than needed is cheaper than a copy);
        # many: copy, so a sensor never pins a whole batch's rows.
        self._remember(key, keep if rows.shape[0] <= 4 else keep.copy())
        m = rows.shape[1]
        out[:, :m] = rows
        if self._plain:
            return
        col = m
        k = rows.shape[0]
        if self.spec.stats:
            for part in _rolling(_windows(extended, k, self.spec.window), self.spec.stats):
                out[:, col : col + m] = part
                col += m
        if self.spec.lags:
            # Row i of ``rows`` is row ``keep + i`` of ``extended``; the tail pads the start.
            # All lags in one gather: (k, lags, m) is the columns' order, lag by lag.
            index = self._lag_rows if k == 1 else self._lag_rows + np.arange(k)[:, None]
            out[:, col:] = extended[index].reshape(k, -1)

    def _remember(self, key: str, tail: FloatArray) -> None:
        self._tails[key] = tail
        if self.max_sensors is not None and len(self._tails) > self.max_sensors:
            while len(self._tails) > self.max_sensors:
                self._tails.popitem(last=False)
                self.evicted += 1


def _group(keys: Sequence[str]) -> dict[str, list[int]]:
    """Row indices per key, keys in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return groups


def compute_features(batch: ReadingBatch, spec: FeatureSpec) -> FloatArray:
    """Features for a whole batch at once (training): a fresh, unbounded ``FeatureState``."""
    return FeatureState(spec, max_sensors=None).update(batch)


class ScoreSmoother:
    """Causal per-sensor rolling mean of scores over the last ``width`` readings.

    A verdict on a smoothed score needs a few anomalous readings in a row, which trades
    a few readings of delay for far fewer one-off false alarms. Until a sensor has
    ``width`` scores its first one stands in for the missing ones, as in the features.

    The window sum runs position after position, oldest first, whether one reading comes
    (plain float arithmetic: the agent's common case, no numpy call per reading) or many
    (``add.accumulate``): both are the same IEEE additions in the same order, so training
    (threshold) and agent (verdict) agree to the bit however readings were batched.
    Per sensor it keeps ``width - 1`` floats, for at most ``max_sensors`` sensors.
    """

    def __init__(self, width: int, max_sensors: int | None = DEFAULT_MAX_SENSORS) -> None:
        if width < 1:
            raise ValueError("smoothing width must be >= 1")
        if max_sensors is not None and max_sensors < 1:
            raise ValueError("max_sensors must be >= 1")
        self.width = width
        self.max_sensors = max_sensors
        self._tails: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tails)

    def update(self, keys: Sequence[str], scores: FloatArray) -> FloatArray:
        if self.width == 1:
            return scores
        n = len(scores)
        if n == 1:
            return np.array([self._one(keys[0], float(scores[0]))])
        if len(set(keys)) == 1:
            return self._many(keys[0], scores)
        out = np.empty(n)
        for key, index in _group(keys).items():
            out[index] = self._many(key, scores[index])
        return out

    def _one(self, key: str, score: float) -> float:
        tail = self._tails.pop(key, None)
        if score != score:  # NaN: carry the last score forward, as features do
            score = tail[-1] if tail else 0.0
        if tail is None:
            tail = [score] * (self.width - 1)
        total = tail[0]
        for value in tail[1:]:
            total += value
        total += score
        tail.append(score)
        del tail[0]
        self._remember(key, tail)
        return total / self.width

    def _many(self, key: str, scores: FloatArray) -> FloatArray:
        tail = self._tails.pop(key, None)
        previous = np.array([tail[-1] if tail else 0.0])
        rows = _carry_forward(np.asarray(scores, dtype=np.float64)[:, None], previous)[:, 0]
        head = tail if tail is not None else [float(rows[0])] * (self.width - 1)
        extended = np.concatenate((np.asarray(head, dtype=np.float64), rows))
        windows = _windows(extended[:, None], len(rows), self.width)
        self._remember(key, extended[len(extended) - self.width + 1 :].tolist())
        return np.asarray(np.add.accumulate(windows, axis=1)[:, -1, 0] / self.width)

    def _remember(self, key: str, tail: list[float]) -> None:
        self._tails[key] = tail
        if self.max_sensors is not None:
            while len(self._tails) > self.max_sensors:
                self._tails.popitem(last=False)
