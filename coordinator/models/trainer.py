"""Train one sensor type's model: a detector (IsolationForest, PCA or autoencoder),
its threshold policy and calibration.

Inputs come as a ``ReadingBatch`` (the coordinator's store), a CSV file (read by
``shared.csvfile``, the reader CSV replay uses, so a model sees exactly the rows and
metric names an agent replays) or a ready feature matrix. Features are computed by
``shared.features``, the very code the agent runs, and the verdict threshold and
calibration are set on the training rows' scores after the same per-sensor smoothing the
agent applies. Nothing here looks at labels: the threshold policy only sees how normal
data scores. scikit-learn is imported only where a model is fitted, so importing this
module (and ``edgewatch train`` refusing bad input) stays fast.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from edgewatch.coordinator.models.detectors import DETECTORS, FittedDetector, fit_detector
from edgewatch.shared.csvfile import CsvTable, read_csv
from edgewatch.shared.features import FeatureSpec, ScoreSmoother, compute_features, metric_matrix
from edgewatch.shared.modelfile import FORMAT, ModelMeta, PolicyMeta, TrainingSummary
from edgewatch.shared.readings import FloatArray, ReadingBatch
from edgewatch.shared.thresholds import start_of

if TYPE_CHECKING:  # imported where a forest is fitted (see the module docstring)
    from sklearn.ensemble import IsolationForest
    from sklearn.preprocessing import StandardScaler

    from edgewatch.coordinator.models.iforest import IForestDetector

log = logging.getLogger(__name__)

TIER_TREES: dict[str, int] = {"medium": 50, "high": 100}
CALIBRATION_POINTS = 101
MIN_ROWS = 2  # a forest and a threshold need at least two readings to exist at all


class TooFewRows(ValueError):
    """Training was given ``rows`` readings; it needs ``MIN_ROWS``."""

    def __init__(self, rows: int, what: str = "rows") -> None:
        super().__init__(f"need >= {MIN_ROWS} {what}, got {rows}")
        self.rows = rows
        self.needed = MIN_ROWS


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """Where the verdict threshold sits on the (smoothed) training scores.

    ``contamination``: scikit-learn's own verdict, ``score > 0`` (the ``offset_`` that the
    ``contamination`` setting chose). ``quantile``: the ``quantile`` of training scores,
    pushed up by ``margin`` times its distance from the median (``margin`` > 0 leaves room
    for normal data that scores a little worse than anything seen in training).
    """

    kind: Literal["contamination", "quantile"] = "contamination"
    quantile: float = 1.0
    margin: float = 0.0

    def threshold(self, scores: FloatArray) -> float:
        if self.kind == "contamination":
            return 0.0
        top = float(np.quantile(scores, self.quantile))
        return top + self.margin * (top - float(np.median(scores)))


# The recipe measured on SKAB (docs/models.md): `edgewatch eval skab` and `edgewatch train`
# use it unless told otherwise.
RECIPE_SMOOTH = 5
RECIPE_THRESHOLD = ThresholdPolicy("quantile", quantile=1.0, margin=0.2)


@dataclass(frozen=True, slots=True)
class AdaptiveConfig:
    """The streaming threshold (``shared.thresholds.AdaptivePolicy``): z > k, then quiet."""

    k: float = 4.0
    alpha: float = 0.001
    refractory: int = 0
    clip: float | None = None  # winsorise each update at clip x sd (None: plain EWMA)

    def policy(self, scores: FloatArray, detector: str) -> PolicyMeta:
        """The file's policy, started from the (smoothed) training ``scores``."""
        transform: Literal["log1p", "identity"] = "identity" if detector == "iforest" else "log1p"
        mean, var = start_of(scores, transform)
        return PolicyMeta(
            kind="adaptive",
            k=self.k,
            alpha=self.alpha,
            refractory=self.refractory,
            transform=transform,
            start_mean=mean,
            start_var=var,
            clip=self.clip,
        )


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Knobs of one training run. ``for_tier`` gives the tier's tree count.

    ``detector`` picks the kind (``iforest``, ``pca``, ``autoencoder``, ``knn``);
    ``n_trees``, ``contamination`` and ``max_samples`` are the forest's, ``variance`` the
    PCA's (share of variance its components keep) and ``univariate`` its per-feature
    part, ``hidden`` the autoencoder's layer widths, ``scales`` (readings per time scale)
    and ``max_references`` the nearest-neighbour detector's. ``adaptive`` replaces the
    static threshold by the streaming one.
    """

    n_trees: int = 100
    contamination: float | Literal["auto"] = "auto"
    max_samples: int | Literal["auto"] = "auto"
    threshold: ThresholdPolicy = field(default_factory=ThresholdPolicy)
    smooth: int = 1
    random_state: int | None = 0
    detector: str = "iforest"
    variance: float = 0.99
    hidden: tuple[int, ...] = (16,)
    adaptive: AdaptiveConfig | None = None
    univariate: bool = False
    scales: tuple[int, ...] = ()
    max_references: int = 1000

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"no detector {self.detector!r}; one of {', '.join(DETECTORS)}")
        if self.detector != "iforest" and self.threshold.kind == "contamination":
            raise ValueError(
                f"the contamination threshold is an IsolationForest's, not {self.detector}'s"
            )

    @staticmethod
    def for_tier(tier: str, **changes: object) -> TrainConfig:
        if tier not in TIER_TREES:
            raise ValueError(f"no model tier {tier!r}; one of {sorted(TIER_TREES)}")
        return TrainConfig(n_trees=TIER_TREES[tier], **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted model with everything its file's metadata needs."""

    sensor_type: str
    spec: FeatureSpec
    detector: FittedDetector
    threshold: float
    smooth: int
    summary: TrainingSummary
    version: int
    created_at: datetime
    policy: PolicyMeta = field(default_factory=PolicyMeta)

    @property
    def kind(self) -> str:
        return self.detector.kind

    @property
    def forest(self) -> IsolationForest:
        """The IsolationForest (``iforest`` models only)."""
        return self._iforest().forest

    @property
    def scaler(self) -> StandardScaler:
        """The forest's scaler (``iforest`` models only)."""
        return self._iforest().scaler

    def _iforest(self) -> IForestDetector:
        from edgewatch.coordinator.models.iforest import IForestDetector

        if not isinstance(self.detector, IForestDetector):
            raise TypeError(f"a {self.kind} model has no forest")
        return self.detector

    def decision_function(self, features: FloatArray) -> FloatArray:
        """scikit-learn's verdict function on a feature matrix (``iforest`` only)."""
        return self._iforest().decision_function(features)

    def reference_scores(self, features: FloatArray) -> FloatArray:
        """The graph's raw scores computed without ONNX: the parity reference."""
        return self.detector.scores(features)

    def meta(self) -> ModelMeta:
        return ModelMeta(
            format=FORMAT,
            detector=self.kind,
            sensor_type=self.sensor_type,
            version=self.version,
            features=self.spec.to_dict(),
            feature_names=list(self.spec.names),
            threshold=self.threshold,
            policy=self.policy,
            smooth=self.smooth,
            created_at=self.created_at,
            training=self.summary,
            **self.detector.meta_fields(),
        )


def train_matrix(
    features: FloatArray,
    spec: FeatureSpec,
    config: TrainConfig,
    *,
    sensor_type: str,
    keys: Sequence[str] | None = None,
    ts: FloatArray | None = None,
    version: int | None = None,
) -> TrainedModel:
    """Fit on a feature matrix whose columns are ``spec.names``; ``keys`` are sensor ids."""
    n = features.shape[0]
    if n < MIN_ROWS:
        raise TooFewRows(n)
    if features.shape[1] != len(spec.names):
        raise ValueError(f"need rows of {len(spec.names)} features, got {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("training features must be finite")
    keys = list(keys) if keys is not None else ["train"] * n
    detector = fit_detector(config.detector, features, config, spec)
    # Thresholds and calibration see training rows as unseen rows would score.
    held_out = detector.training_scores(features)
    scores = ScoreSmoother(config.smooth, max_sensors=None).update(keys, held_out)
    created = datetime.now(UTC)
    first, last = _span(ts)
    std = np.std(features, axis=0)
    summary = TrainingSummary(
        rows=n,
        sensors=len(set(keys)),
        ts_first=first,
        ts_last=last,
        feature_mean=[float(v) for v in np.mean(features, axis=0)],
        feature_std=[float(v) for v in np.where(std > 0, std, 1.0)],
        score_quantiles=np.quantile(scores, np.linspace(0, 1, CALIBRATION_POINTS)).tolist(),
    )
    threshold = config.threshold.threshold(scores)
    policy = config.adaptive.policy(scores, config.detector) if config.adaptive else PolicyMeta()
    log.info("trained %s: %d rows, %s, threshold %.4f", sensor_type, n, config.detector, threshold)
    return TrainedModel(
        sensor_type=sensor_type,
        spec=spec,
        detector=detector,
        threshold=threshold,
        smooth=config.smooth,
        summary=summary,
        version=version if version is not None else int(created.timestamp()),
        created_at=created,
        policy=policy,
    )


def train_batch(
    batch: ReadingBatch,
    spec: FeatureSpec,
    config: TrainConfig,
    *,
    sensor_type: str,
    version: int | None = None,
) -> TrainedModel:
    """Fit on the readings of ``sensor_type`` in ``batch`` (in batch order per sensor).

    The spec's ``fill`` (the value for a metric a sensor has never reported) becomes the
    training median of each metric.
    """
    rows = [i for i, t in enumerate(batch.sensor_type) if t == sensor_type]
    if len(rows) < MIN_ROWS:
        raise TooFewRows(len(rows), f"readings of type {sensor_type!r}")
    own = batch.take(rows)
    raw = metric_matrix(own, spec.metrics)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: median is NaN
        median = np.nanmedian(raw, axis=0)
    spec = spec.with_fill(np.where(np.isfinite(median), median, 0.0).tolist())
    features = compute_features(own, spec)
    return train_matrix(
        features,
        spec,
        config,
        sensor_type=sensor_type,
        keys=own.sensor_id,
        ts=own.ts,
        version=version,
    )


def train_table(
    table: CsvTable,
    config: TrainConfig,
    *,
    sensor_type: str,
    spec: FeatureSpec | None = None,
    rows: int | None = None,
    version: int | None = None,
) -> TrainedModel:
    """Fit on a CSV file's good rows (its first ``rows`` if given); default: every metric."""
    table = table if rows is None else table.head(rows)
    spec = spec or FeatureSpec(table.metric_names)
    batch = table.to_batch(sensor_type)
    return train_batch(batch, spec, config, sensor_type=sensor_type, version=version)


def train_csv(
    path: Path,
    config: TrainConfig,
    *,
    sensor_type: str,
    spec: FeatureSpec | None = None,
    rows: int | None = None,
    version: int | None = None,
    sep: str | None = None,
) -> TrainedModel:
    """``train_table`` on ``read_csv(path)``; raises ``ConfigError`` for an unusable file."""
    table = read_csv(path, sep=sep)
    return train_table(
        table, config, sensor_type=sensor_type, spec=spec, rows=rows, version=version
    )


def _span(ts: FloatArray | None) -> tuple[float | None, float | None]:
    """First and last training time; None when no reading has one (a CSV without times)."""
    known = ts[np.isfinite(ts)] if ts is not None else np.empty(0)
    return (float(known.min()), float(known.max())) if len(known) else (None, None)
