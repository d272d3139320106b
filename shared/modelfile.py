"""The model file: an ONNX graph whose ``metadata_props`` say what it is and how to use it.

One key, ``edgewatch.meta``, holds a JSON ``ModelMeta``: sensor type, version, feature
spec and names, verdict threshold, score smoothing, tree count, calibration points and a
summary of the training data. The graph itself has one input, ``features`` (float64,
``[N, len(feature_names)]``), and one output, ``score`` (float64, ``[N, 1]``, higher is
more anomalous, the negated scikit-learn ``decision_function``).

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

FORMAT: Literal["edgewatch.iforest/1"] = "edgewatch.iforest/1"
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


class ModelMeta(BaseModel):
    """Everything the agent needs besides the graph. Validated on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["edgewatch.iforest/1"] = FORMAT
    sensor_type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    version: int = Field(ge=1)
    features: dict[str, Any]
    feature_names: list[str]
    threshold: float
    smooth: int = Field(default=1, ge=1, le=1000)
    n_trees: int = Field(ge=1)
    max_samples: int = Field(ge=1)
    offset: float
    created_at: datetime
    training: TrainingSummary

    @field_validator("threshold", "offset")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
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
