"""The model runtime: one sensor type's model (any detector kind), scored on onnxruntime.

Shared by everything that scores with a model file: the agent (``agent.scorers.tiered``
routes readings to it), the evaluation (``edgewatch eval``) and, later, the
coordinator's cloud re-scoring, so all three run the very same code path.
Imports numpy and onnxruntime only (never scikit-learn or onnx), so it runs on the
smallest agent. Per micro-batch: features from ``shared.features`` (streaming, bounded
per-sensor state), one ``session.run`` for the whole batch, the model's per-sensor score
smoothing, then the verdict of the model's threshold policy (``shared.thresholds``): the
static ``score > threshold`` or the adaptive per-sensor streaming threshold. Every detector
kind (IsolationForest, PCA, autoencoder) is the same graph contract (``features`` in,
``score`` out), so this class runs them all; files of format 1 load as before.

With the static policy, ``confidence`` is calibrated on the training scores stored in
the model file (there are no labels at the edge, so "calibrated" means "placed against
how normal data scored"):

- a *normal* verdict: ``1 - F(score) / (2 F(threshold))`` with ``F`` the training scores'
  empirical CDF: 0.5 at the threshold, 1.0 below every training score;
- an *anomaly* verdict: ``1 - exp(-(score - threshold) / spread) / 2`` with ``spread`` the
  distance from the median to the 99th percentile of training scores: 0.5 at the
  threshold, ~0.82 one spread above it, approaching 1 far out (most anomalies score
  beyond anything seen in training, where a CDF is flat and could not tell them apart).
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgewatch.shared.errors import ModelError
from edgewatch.shared.features import DEFAULT_MAX_SENSORS, FeatureState, ScoreSmoother
from edgewatch.shared.modelfile import (
    INPUT_NAME,
    OUTPUT_NAME,
    ModelBytes,
    ModelMeta,
    parse_meta,
    read_model_bytes,
)
from edgewatch.shared.readings import FloatArray, ReadingBatch
from edgewatch.shared.scoring import ModelInfo, Scores, scorer_name
from edgewatch.shared.thresholds import AdaptivePolicy, AdaptiveSpec, Policy, StaticPolicy

log = logging.getLogger(__name__)


def session_options() -> ort.SessionOptions:
    """One thread, no spinning: the agent shares a small box with everything else."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def open_session(data: bytes) -> ort.InferenceSession:
    """An onnxruntime session on ``data``; raises ``ModelError`` if it will not load."""
    try:
        return ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped pybind errors
        raise ModelError(f"onnxruntime cannot load the model: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Calibration:
    """Maps scores to confidence in the verdict (see the module docstring)."""

    threshold: float
    quantiles: FloatArray
    levels: FloatArray
    cut: float  # F(threshold)
    spread: float  # 99th percentile - median of training scores
    _points: list[float] = field(default_factory=list, repr=False)
    _levels: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_points", self.quantiles.tolist())
        object.__setattr__(self, "_levels", self.levels.tolist())

    @staticmethod
    def of(threshold: float, quantiles: FloatArray) -> Calibration:
        levels = np.linspace(0.0, 1.0, len(quantiles))
        cut = max(float(np.interp(threshold, quantiles, levels)), 1e-12)
        spread = float(np.interp(0.99, levels, quantiles) - np.interp(0.5, levels, quantiles))
        return Calibration(threshold, quantiles, levels, cut, max(spread, 1e-12))

    def __call__(self, score: FloatArray) -> FloatArray:
        if len(score) == 1:  # the agent's common case: float arithmetic, no numpy calls
            return np.array([self.one(float(score[0]))])
        rank = np.interp(score, self.quantiles, self.levels)
        normal = 1.0 - np.minimum(rank / self.cut, 1.0) / 2.0
        excess = np.maximum(score - self.threshold, 0.0) / self.spread
        anomalous = 1.0 - np.exp(-excess) / 2.0
        # Both branches lie in [0.5, 1] by construction (rank and levels are in [0, 1]).
        return np.where(score > self.threshold, anomalous, normal)

    def one(self, score: float) -> float:
        """``self(np.array([score]))[0]`` (equal up to the last bit of ``exp``)."""
        if score > self.threshold:
            return 1.0 - math.exp(-(score - self.threshold) / self.spread) / 2.0
        if score != score:
            return score  # NaN stays NaN, as in the vectorised form
        rank = _interp(score, self._points, self._levels)
        return 1.0 - min(rank / self.cut, 1.0) / 2.0


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """``np.interp`` for one point on sorted ``xs`` (ties: the rightmost, as numpy)."""
    if x < xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    if x1 == x0:
        return y1
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


def confidence(score: FloatArray, threshold: float, quantiles: FloatArray) -> FloatArray:
    """Calibrated confidence in each verdict, in [0, 1] (see the module docstring)."""
    return Calibration.of(threshold, quantiles)(score)


def _check_io(session: ort.InferenceSession, meta: ModelMeta) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    width = len(meta.feature_names)
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].type != "tensor(double)":
        raise ModelError(f"model input must be one float64 tensor named {INPUT_NAME!r}")
    if list(inputs[0].shape)[1:] != [width]:
        raise ModelError(f"model reads {inputs[0].shape}, metadata names {width} features")
    if [o.name for o in outputs] != [OUTPUT_NAME]:
        raise ModelError(f"model output must be one tensor named {OUTPUT_NAME!r}")


class OnnxScorer:
    """Scores readings of one sensor type with a model file. Name ``onnx:<type>@<version>``.

    Not thread-safe (the feature state is per instance): one worker scores, as one
    worker owns the session. ``TieredScorer`` swaps whole instances instead.
    """

    def __init__(self, model: ModelBytes, *, max_sensors: int = DEFAULT_MAX_SENSORS) -> None:
        self._session = open_session(model.data)
        self.meta = parse_meta(self._session.get_modelmeta().custom_metadata_map)
        _check_io(self._session, self.meta)
        self.sha256 = model.sha256
        self._features = FeatureState(self.meta.spec, max_sensors)
        self._smoother = ScoreSmoother(self.meta.smooth, max_sensors)
        quantiles = np.asarray(self.meta.training.score_quantiles, dtype=np.float64)
        self._calibration = Calibration.of(self.meta.threshold, quantiles)
        self._policy = make_policy(self.meta, self._calibration, max_sensors)
        self._name = scorer_name(self.meta.sensor_type, self.meta.version)
        self.info = ModelInfo(self.meta.sensor_type, self.meta.version, model.sha256)
        log.info("loaded model %s from %s (%s)", self._name, model.source, self.sha256[:12])

    @classmethod
    def from_path(cls, path: Path, *, max_sensors: int = DEFAULT_MAX_SENSORS) -> OnnxScorer:
        return cls(read_model_bytes(path), max_sensors=max_sensors)

    @property
    def name(self) -> str:
        return self._name

    @property
    def sensor_type(self) -> str:
        return self.meta.sensor_type

    @property
    def version(self) -> int:
        return self.meta.version

    def models(self) -> dict[str, ModelInfo]:
        return {self.meta.sensor_type: self.info}

    def score_features(self, features: FloatArray) -> FloatArray:
        """The graph's raw scores (``-decision_function``) for a ready feature matrix."""
        x = np.ascontiguousarray(features, dtype=np.float64)
        out = self._session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def warm(self, batch: ReadingBatch) -> None:
        """Advance the feature windows and smoothing over ``batch`` without judging it.

        For readings that are history, not news: the rows a model was just trained on
        (NAB's probationary period), so the first reading judged has full windows while
        the threshold policy starts from the training scores, not from these rows' scores
        (a nearest-neighbour model would score its own references 0).
        """
        if len(batch):
            raw = self.score_features(self._features.update(batch))
            self._smoother.update(batch.sensor_id, raw)

    def score(self, batch: ReadingBatch) -> Scores:
        """Score ``batch`` (all of it, whatever its ``sensor_type``); advances the state."""
        n = len(batch)
        if n == 0:
            return Scores.empty()
        raw = self.score_features(self._features.update(batch))
        score = self._smoother.update(batch.sensor_id, raw)
        anomaly, conf = self._policy.judge(batch.sensor_id, score)
        return Scores(score=score, anomaly=anomaly, confidence=conf, scorer=[self._name] * n)

    def sensor_state_bytes(self) -> int:
        """Numbers kept per sensor: feature history, smoothing window, threshold state."""
        adaptive = AdaptivePolicy.STATE_BYTES if self.meta.policy.kind == "adaptive" else 0
        return self._features.sensor_bytes() + 8 * max(self.meta.smooth - 1, 0) + adaptive


def make_policy(meta: ModelMeta, calibration: Calibration, max_sensors: int | None) -> Policy:
    """The verdict policy a model file names (``static`` unless it says ``adaptive``)."""
    policy = meta.policy
    if policy.kind == "static":
        return StaticPolicy(meta.threshold, calibration)
    try:
        spec = AdaptiveSpec(
            k=policy.k,
            alpha=policy.alpha,
            refractory=policy.refractory,
            transform=policy.transform,
            mean=policy.start_mean,
            var=policy.start_var,
            clip=policy.clip,
        )
    except ValueError as exc:
        raise ModelError(f"bad threshold policy: {exc}") from exc
    return AdaptivePolicy(spec, max_sensors)
