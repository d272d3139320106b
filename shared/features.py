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

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
    out = np.full((len(batch), len(metrics)), np.nan)
    for j, name in enumerate(metrics):
        column = batch.metrics.get(name)
        if column is not None:
            out[:, j] = column
    out[np.isinf(out)] = np.nan  # one pass over the matrix, not one per metric
    return out


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


def _rolling(windows: FloatArray, stats: Sequence[str]) -> list[FloatArray]:
    """Stats of ``windows`` shaped ``(k, m, W)``, each ``(k, m)``.

    Sums run one window position at a time on purpose: element-wise arithmetic gives the
    same bits whatever the batch shape, so streaming and batch results are identical.
    """
    width = windows.shape[2]
    total = windows[:, :, 0].copy()
    for j in range(1, width):
        total += windows[:, :, j]
    mean = total / width
    out: list[FloatArray] = []
    for stat in stats:
        if stat == "mean":
            out.append(mean)
        elif stat == "std":
            square = np.zeros_like(mean)
            for j in range(width):
                square += (windows[:, :, j] - mean) ** 2
            out.append(np.sqrt(square / width))
        else:  # delta
            out.append(windows[:, :, -1] - windows[:, :, 0])
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

    def __len__(self) -> int:
        return len(self._tails)

    def sensor_bytes(self) -> int:
        """Bytes of feature history kept per sensor (the numbers, not Python's overhead)."""
        return self._keep * len(self.spec.metrics) * 8

    def update(self, batch: ReadingBatch) -> FloatArray:
        """Feature matrix ``(len(batch), len(spec.names))`` for ``batch``; advances state."""
        return self.update_matrix(batch.sensor_id, metric_matrix(batch, self.spec.metrics))

    def update_matrix(self, keys: Sequence[str], values: FloatArray) -> FloatArray:
        """Like ``update`` for a ready matrix of raw metric values (NaN = absent)."""
        out = np.empty((values.shape[0], len(self.spec.names)))
        for key, index in _group(keys).items():
            out[index] = self._sensor_features(key, values[index])
        return out

    def _sensor_features(self, key: str, rows: FloatArray) -> FloatArray:
        tail = self._tails.pop(key, None)
        previous = self.spec.fill_values if tail is None else tail[-1]
        rows = _carry_forward(rows, previous)
        if tail is None:
            tail = np.repeat(rows[:1], self._keep, axis=0)
        extended = np.vstack([tail, rows])
        self._remember(key, extended[-self._keep :].copy())
        if not self.spec.stats and not self.spec.lags:
            return rows
        parts = [rows]
        if self.spec.stats:
            windows = sliding_window_view(extended, self.spec.window, axis=0)[-len(rows) :]
            parts.extend(_rolling(windows, self.spec.stats))
        k = len(rows)
        for lag in self.spec.lags:
            # Row i of ``rows`` is row ``keep + i`` of ``extended``; the tail pads the start.
            parts.append(extended[self._keep - lag : self._keep - lag + k])
        return np.hstack(parts)

    def _remember(self, key: str, tail: FloatArray) -> None:
        self._tails[key] = tail
        if self.max_sensors is not None:
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
    a few readings of delay for far fewer one-off false alarms. It is the same rolling
    kernel as the features, so training (threshold) and agent (verdict) agree.
    """

    def __init__(self, width: int, max_sensors: int | None = DEFAULT_MAX_SENSORS) -> None:
        if width < 1:
            raise ValueError("smoothing width must be >= 1")
        self.width = width
        spec = FeatureSpec(("score",), window=width, stats=("mean",)) if width > 1 else None
        self._state = FeatureState(spec, max_sensors) if spec is not None else None

    def update(self, keys: Sequence[str], scores: FloatArray) -> FloatArray:
        if self._state is None:
            return scores
        # A column of the feature matrix is a strided view: hand out a contiguous copy,
        # as every other score array is (orjson refuses to serialise strided arrays).
        return np.ascontiguousarray(self._state.update_matrix(keys, scores[:, None])[:, 1])
