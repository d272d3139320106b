"""The low-power tier: threshold rules, a range per metric, optionally per sensor type.

For a reading ``x`` of a metric with range ``[lo, hi]`` (either bound optional) the
normalised excess is ``e = max(x - hi, lo - x) / scale``: positive outside the range,
zero on a bound, minus the distance to the nearest bound inside it. A reading's
``score`` is the largest ``e`` over its metrics that have a rule, ``anomaly`` is
``score > 0`` and ``confidence = 1 - 0.5 * exp(-|score| / confidence_scale)``.
The file format and the reasoning are in docs/rules.md.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import FloatArray, ReadingBatch
from edgewatch.shared.scoring import ModelInfo, Scores

NAME = "rules"


@dataclass(frozen=True, slots=True)
class Range:
    """Allowed values of one metric; ``scale`` turns distances into range units."""

    low: float = -math.inf
    high: float = math.inf
    scale: float = 1.0

    @staticmethod
    def of(low: float | None, high: float | None, scale: float | None = None) -> Range:
        """A range whose default scale is its width, or ``|bound|`` (at least 1) if half-open."""
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high
        if scale is None:
            scale = hi - lo if math.isfinite(hi - lo) and hi > lo else max(1.0, *_finite(lo, hi))
        return Range(lo, hi, scale)


def _finite(*values: float) -> list[float]:
    return [abs(v) for v in values if math.isfinite(v)]


# The notebook's low-tier detector: temperature 10..40, vibration <= 2.0, power 30..200.
DEFAULT_RANGES = {
    "temperature": Range.of(10.0, 40.0),
    "vibration": Range.of(None, 2.0),
    "power_consumption": Range.of(30.0, 200.0),
}


class _RangeFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    min: float | None = None
    max: float | None = None
    scale: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("needs min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


class _TypeFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    metrics: dict[str, _RangeFile] = Field(default_factory=dict)


class _RuleFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    confidence_scale: float = Field(default=0.1, gt=0)
    metrics: dict[str, _RangeFile] = Field(default_factory=dict)
    types: dict[str, _TypeFile] = Field(default_factory=dict)


def _ranges(table: dict[str, _RangeFile]) -> dict[str, Range]:
    return {m: Range.of(r.min, r.max, r.scale) for m, r in table.items()}


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Ranges per metric, with per-type entries that replace a metric's default range."""

    metrics: dict[str, Range] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    types: dict[str, dict[str, Range]] = field(default_factory=dict)
    confidence_scale: float = 0.1

    @staticmethod
    def from_toml(path: Path) -> RuleSet:
        """Load a rule file; it replaces the defaults entirely (see docs/rules.md)."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            parsed = _RuleFile.model_validate(data)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read rule file {path}: {exc}") from exc
        except ValidationError as exc:
            raise ConfigError(f"rule file {path} is malformed: {exc}") from exc
        return RuleSet(
            metrics=_ranges(parsed.metrics),
            types={t: _ranges(tf.metrics) for t, tf in parsed.types.items()},
            confidence_scale=parsed.confidence_scale,
        )

    def range_for(self, sensor_type: str, metric: str) -> Range | None:
        """The range that applies to ``metric`` on a sensor of ``sensor_type``, if any."""
        own = self.types.get(sensor_type, {})
        return own.get(metric, self.metrics.get(metric))

    @property
    def metric_names(self) -> list[str]:
        """Every metric some rule covers."""
        names = dict.fromkeys(self.metrics)
        for table in self.types.values():
            names.update(dict.fromkeys(table))
        return list(names)


class RuleScorer:
    """Scores a batch against a ``RuleSet``; implements ``shared.scoring.Scorer``.

    >>> from edgewatch.shared.readings import ReadingBatch
    >>> batch = ReadingBatch(["s"], ["x"], np.zeros(1), {"vibration": np.array([3.0])})
    >>> RuleScorer().score(batch).score.tolist()
    [0.5]
    """

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules or RuleSet()

    @property
    def name(self) -> str:
        return NAME

    def models(self) -> dict[str, ModelInfo]:
        return {}

    def score(self, batch: ReadingBatch) -> Scores:
        n = len(batch)
        score = np.full(n, np.nan)
        types, inverse = _type_codes(batch)
        for metric in self.rules.metric_names:
            values = batch.metrics.get(metric)
            if values is not None:
                excess = self._excess(metric, values, types, inverse)
                score = np.fmax(score, excess)  # fmax: NaN (no rule, absent) never wins
        anomaly = score > 0
        margin = np.where(np.isnan(score), 0.0, np.abs(score))
        confidence = 1.0 - 0.5 * np.exp(-margin / self.rules.confidence_scale)
        return Scores(score, anomaly, confidence, [NAME] * n)

    def _excess(
        self, metric: str, values: FloatArray, types: list[str], inverse: npt.NDArray[np.intp]
    ) -> FloatArray:
        """Normalised excess of every reading over its range; NaN where no rule applies."""
        bounds = np.array(
            [_bounds(self.rules.range_for(t, metric)) for t in types], dtype=np.float64
        ).reshape(len(types), 3)[inverse]
        low, high, scale = bounds[:, 0], bounds[:, 1], bounds[:, 2]
        with np.errstate(invalid="ignore"):
            excess: FloatArray = np.maximum(values - high, low - values) / scale
        return excess


def _bounds(rng: Range | None) -> tuple[float, float, float]:
    # NaN bounds make the excess NaN: "no rule for this metric on this type".
    return (rng.low, rng.high, rng.scale) if rng else (math.nan, math.nan, math.nan)


def _type_codes(batch: ReadingBatch) -> tuple[list[str], npt.NDArray[np.intp]]:
    """The batch's distinct sensor types and each reading's index into them."""
    codes: dict[str, int] = {}
    inverse = np.fromiter(
        (codes.setdefault(t, len(codes)) for t in batch.sensor_type),
        dtype=np.intp,
        count=len(batch),
    )
    return list(codes), inverse
