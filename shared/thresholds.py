"""Verdicts from scores: a fixed threshold, or a streaming one that adapts per sensor.

A model's graph gives each reading a (smoothed) score; a *threshold policy* turns scores
into verdicts and confidences. It is a wrapper around the score, never part of the graph
(River's ``classify(score)``), so one graph can be judged by either policy:

- ``StaticPolicy``: ``anomaly = score > threshold``, confidence calibrated against the
  training scores (``shared.runtime.Calibration``);
- ``AdaptivePolicy``: per sensor, an exponentially weighted mean ``mu`` and variance
  ``var`` of ``u = log(1 + max(score, 0))`` (or of the score itself, ``transform
  "identity"``), started from the training scores' and updated with every reading:
  ``z = (u - mu) / sqrt(var)``, ``anomaly = z > k``, and after a verdict the sensor stays
  quiet for ``refractory`` readings (one alarm per event, not one per reading). It adapts
  to a sensor's slow drift without retraining; ``alpha`` sets how fast. Confidence is
  ``1 - exp(-|z - k|) / 2``: 0.5 at the threshold, towards 1 either side. With ``clip``,
  each update is winsorised at ``clip`` standard deviations (``u - mu`` clipped to
  ``+-clip * sqrt(var)``): the baseline still follows drift, but one huge anomaly no
  longer inflates the variance for the next ``1/alpha`` readings and hides the anomalies
  after it (a robust EWMA; without it NAB's second windows of a file went unseen).

Per-sensor state is three floats and a counter, kept for at most ``max_sensors`` sensors
(least recently seen forgotten first, as ``shared.features.FeatureState`` does). Updates
run reading by reading in batch order, so streaming in any chunks equals one batch bit
for bit. numpy only: the agent imports it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from edgewatch.shared.features import DEFAULT_MAX_SENSORS
from edgewatch.shared.readings import BoolArray, FloatArray

Transform = Literal["log1p", "identity"]
MIN_VAR = 1e-12


class Policy(Protocol):
    """Turns one micro-batch of scores into verdicts and confidences; advances state."""

    def judge(self, keys: Sequence[str], scores: FloatArray) -> tuple[BoolArray, FloatArray]: ...


class StaticPolicy:
    """``score > threshold``; ``calibrate`` maps scores to confidence."""

    def __init__(self, threshold: float, calibrate: Callable[[FloatArray], FloatArray]) -> None:
        self.threshold = threshold
        self._calibrate = calibrate

    def judge(self, keys: Sequence[str], scores: FloatArray) -> tuple[BoolArray, FloatArray]:
        return np.asarray(scores > self.threshold, dtype=np.bool_), self._calibrate(scores)


@dataclass(frozen=True, slots=True)
class AdaptiveSpec:
    """The knobs of ``AdaptivePolicy`` and its starting point (from the training scores)."""

    k: float
    alpha: float
    refractory: int
    transform: Transform
    mean: float
    var: float
    clip: float | None = None

    def __post_init__(self) -> None:
        if not (self.k > 0 and 0 < self.alpha < 1 and self.refractory >= 0):
            raise ValueError("adaptive threshold needs k > 0, 0 < alpha < 1, refractory >= 0")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError("adaptive threshold clip must be a positive number")
        if not (math.isfinite(self.mean) and math.isfinite(self.var) and self.var >= 0):
            raise ValueError("adaptive threshold needs a finite start mean and variance")


def transform(scores: FloatArray, kind: Transform) -> FloatArray:
    """The scale the adaptive statistics live on: ``log1p`` tames heavy-tailed scores."""
    if kind == "identity":
        return np.asarray(scores, dtype=np.float64)
    return np.asarray(np.log1p(np.maximum(scores, 0.0)), dtype=np.float64)


def start_of(train_scores: FloatArray, kind: Transform) -> tuple[float, float]:
    """The starting mean and variance: those of the (transformed) training scores."""
    u = transform(train_scores, kind)
    return float(np.mean(u)), max(float(np.var(u)), MIN_VAR)


class AdaptivePolicy:
    """The streaming threshold of the module docstring. Not thread-safe (one worker)."""

    STATE_BYTES = 4 * 8  # mean, var, quiet counter, last z: what one sensor costs

    def __init__(self, spec: AdaptiveSpec, max_sensors: int | None = DEFAULT_MAX_SENSORS) -> None:
        self.spec = spec
        self.max_sensors = max_sensors
        self._state: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._state)

    def judge(self, keys: Sequence[str], scores: FloatArray) -> tuple[BoolArray, FloatArray]:
        # Reading by reading in plain float arithmetic: the state is sequential anyway, and
        # one reading (the agent's common case) then costs no numpy call at all.
        spec = self.spec
        log1p = spec.transform == "log1p"
        k, alpha, clip = spec.k, spec.alpha, spec.clip
        anomaly: list[bool] = []
        confidence: list[float] = []
        for key, score in zip(keys, scores.tolist(), strict=True):
            value = math.log1p(max(score, 0.0)) if log1p else score
            state = self._state.pop(key, None)
            if state is None:
                state = [spec.mean, max(spec.var, MIN_VAR), 0.0]
            mean, var, quiet = state
            sd = math.sqrt(var)
            z = (value - mean) / sd
            alarm = z > k and quiet <= 0
            if alarm:
                quiet = float(spec.refractory)
            else:
                quiet -= 1.0
            d = value - mean
            if clip is not None:
                d = min(max(d, -clip * sd), clip * sd)
            mean += alpha * d
            var = max((1.0 - alpha) * (var + alpha * d * d), MIN_VAR)
            self._remember(key, [mean, var, quiet])
            anomaly.append(alarm)
            # A reading above k but silenced by the refractory period is not a confident
            # normal; NaN scores give NaN confidence, as everywhere else.
            silenced = z > k and not alarm
            confidence.append(0.5 if silenced else 1.0 - math.exp(-abs(z - k)) / 2.0)
        return np.array(anomaly, dtype=np.bool_), np.array(confidence)

    def _remember(self, key: str, state: list[float]) -> None:
        self._state[key] = state
        if self.max_sensors is not None:
            while len(self._state) > self.max_sensors:
                self._state.popitem(last=False)
