"""The model file: an ONNX graph whose ``metadata_props`` say what it is and how to use it.

One key, ``edgewatch.meta``, holds a JSON ``ModelMeta``: format, detector kind, sensor
type, version, feature spec and names, verdict threshold and threshold policy, score
smoothing, detector parameters, calibration points and a summary of the training data.
The graph itself has one input, ``features`` (float64, ``[N, len(feature_names)]``), and
one output, ``score`` (float64, ``[N, 1]``, higher is more anomalous), whatever the
detector:

- ``iforest``: the negated scikit-learn ``decision_function`` of an IsolationForest;
- ``pca``: ``max(T² / T²_ref, Q / Q_ref)``, Hotelling's T² in the principal subspace and
  the squared prediction error Q off it, each over its training 99th percentile;
- ``autoencoder``: the mean squared reconstruction error of an MLP autoencoder over its
  training 99th percentile;
- ``knn``: the distance to the nearest training pattern, per time scale, over its
  training 99th percentile, the largest of the scales (``univariate`` PCA likewise adds
  the largest squared z-score of one feature).

Formats: ``edgewatch.model/3`` (written now: adds the ``knn`` detector, its
``references`` and ``scales``, PCA's ``univariate`` and the adaptive policy's ``clip``),
``edgewatch.model/2`` (any of the first three detectors, ``detector`` and ``policy``
fields) and ``edgewatch.iforest/1`` (the first release: IsolationForest, static
threshold); both older formats are still read, and a file that claims an older format
but uses a newer field is refused.

The coordinator writes it (``coordinator.training.export``); the agent reads it with
onnxruntime only, so this module must not import ``onnx``: metadata arrive as the plain
string map onnxruntime exposes (``get_modelmeta().custom_metadata_map``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgewatch.shared.errors import ModelError
from edgewatch.shared.features import FeatureSpec

FORMAT_V1: Literal["edgewatch.iforest/1"] = "edgewatch.iforest/1"
FORMAT_V2: Literal["edgewatch.model/2"] = "edgewatch.model/2"
FORMAT: Literal["edgewatch.model/3"] = "edgewatch.model/3"
Format = Literal["edgewatch.iforest/1", "edgewatch.model/2", "edgewatch.model/3"]
Detector = Literal["iforest", "pca", "autoencoder", "knn"]
DETECTORS: tuple[str, ...] = ("iforest", "pca", "autoencoder", "knn")
V3_FIELDS = frozenset({"references", "scales", "univariate"})
META_KEY = "edgewatch.meta"
INPUT_NAME = "features"
OUTPUT_NAME = "score"
MAX_FILE_BYTES = 8 * 1024 * 1024  # a 100-tree model is < 1 MB; refuse anything absurd


class TrainingSummary(BaseModel):
    """What the model was trained on, for operators and for calibration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(ge=1)
    sensors: int = Field(ge=1)
    ts_first: float | None = None
    ts_last: float | None = None
    feature_mean: list[float]
    feature_std: list[float]
    # Quantiles 0, 1/(q-1), ..., 1 of the (smoothed) training scores: the calibration map.
    score_quantiles: list[float] = Field(min_length=2)


class PolicyMeta(BaseModel):
    """How scores become verdicts (``shared.thresholds``): ``static`` or ``adaptive``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["static", "adaptive"] = "static"
    k: float = Field(default=4.0, gt=0, le=1e6)
    alpha: float = Field(default=0.001, gt=0, lt=1)
    refractory: int = Field(default=0, ge=0, le=10_000_000)
    transform: Literal["log1p", "identity"] = "log1p"
    start_mean: float = 0.0
    start_var: float = Field(default=1.0, ge=0, le=1e300)
    clip: float | None = Field(default=None, gt=0, le=1e6)  # format 3

    @field_validator("start_mean", "start_var")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class ModelMeta(BaseModel):
    """Everything the agent needs besides the graph. Validated on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format = FORMAT
    detector: Detector = "iforest"
    sensor_type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    version: int = Field(ge=1)
    features: dict[str, Any]
    feature_names: list[str]
    threshold: float
    policy: PolicyMeta = Field(default_factory=PolicyMeta)
    smooth: int = Field(default=1, ge=1, le=1000)
    # IsolationForest only (required by format 1).
    n_trees: int | None = Field(default=None, ge=1)
    max_samples: int | None = Field(default=None, ge=1)
    offset: float | None = None
    # PCA: components kept; autoencoder: hidden layer widths.
    components: int | None = Field(default=None, ge=1)
    hidden: list[int] | None = None
    # Format 3. PCA: the per-feature part is in the graph; knn: references kept and the
    # readings each time scale looks at (empty: one scale over every feature).
    univariate: bool | None = None
    references: int | None = Field(default=None, ge=1)
    scales: list[int] | None = None
    created_at: datetime
    training: TrainingSummary

    @field_validator("threshold", "offset")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be finite")
        return value

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.features)

    def check(self) -> None:
        """Cross-field checks pydantic cannot express; raises ``ModelError``."""
        try:
            spec = self.spec
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"bad feature spec: {exc}") from exc
        if tuple(self.feature_names) != spec.names:
            raise ModelError(f"feature names {self.feature_names} differ from spec {spec.names}")
        n = len(self.feature_names)
        if len(self.training.feature_mean) != n or len(self.training.feature_std) != n:
            raise ModelError("training summary does not match the feature count")
        q = self.training.score_quantiles
        if any(b < a for a, b in itertools.pairwise(q)):
            raise ModelError("calibration quantiles are not sorted")
        forest = (self.n_trees, self.max_samples, self.offset)
        if self.detector == "iforest" and None in forest:
            raise ModelError("an iforest model needs n_trees, max_samples and offset")
        if self.format == FORMAT_V1 and (
            self.detector != "iforest" or "policy" in self.model_fields_set
        ):
            raise ModelError(f"format {FORMAT_V1} holds a static IsolationForest only")
        newer = any(getattr(self, name) is not None for name in V3_FIELDS)
        if self.format != FORMAT and (
            self.detector == "knn" or newer or self.policy.clip is not None
        ):
            raise ModelError(f"format {self.format} has no knn detector, {sorted(V3_FIELDS)}, clip")
        if self.detector == "knn" and (self.references is None or self.scales is None):
            raise ModelError("a knn model needs references and scales")

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` to write into the ONNX model."""
        return {META_KEY: self.model_dump_json()}


@dataclass(frozen=True, slots=True)
class ModelBytes:
    """A model file's raw bytes and their hash, read but not yet trusted."""

    data: bytes
    sha256: str
    source: str


def read_model_bytes(source: Path | bytes) -> ModelBytes:
    """Read a model file (or take bytes already received); raises ``ModelError``.

    Signing comes later (Ed25519, see DESIGN.md "Models"): this is the one place every
    model enters, and the signature must be verified here, on the raw bytes, before
    onnxruntime parses a single one of them.
    """
    if isinstance(source, bytes):
        data, name = source, "<bytes>"
    else:
        try:
            if source.stat().st_size > MAX_FILE_BYTES:
                raise ModelError(f"{source}: larger than {MAX_FILE_BYTES} bytes")
            data, name = source.read_bytes(), str(source)
        except OSError as exc:
            raise ModelError(f"cannot read model {source}: {exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{name}: larger than {MAX_FILE_BYTES} bytes")
    return ModelBytes(data=data, sha256=hashlib.sha256(data).hexdigest(), source=name)


def parse_meta(props: Mapping[str, str]) -> ModelMeta:
    """``ModelMeta`` from a model's metadata map; raises ``ModelError`` when unusable."""
    raw = props.get(META_KEY)
    if raw is None:
        raise ModelError(f"not an edgewatch model: no {META_KEY!r} metadata")
    try:
        meta = ModelMeta.model_validate_json(raw)
    except ValidationError as exc:
        raise ModelError(f"bad model metadata: {exc}") from exc
    meta.check()
    return meta
