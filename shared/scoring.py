"""The scorer contract, shared by the agent (rules, ONNX) and the coordinator (hybrid).

Following River's anomaly API: a higher ``score`` means more anomalous, and the verdict
(``anomaly``) comes from a threshold the scorer owns. Scorers judge a whole micro-batch
at once; every result says which scorer judged it (``rules``, ``onnx:<type>@<version>``),
and ``models()`` says which model judges each sensor type, typed, so the agent's hello
and heartbeat never have to guess (``tests/shared/test_scorer_contract.py`` runs one
contract suite against every scorer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from edgewatch.shared.readings import BoolArray, FloatArray, ReadingBatch


@dataclass(frozen=True, slots=True)
class Scores:
    """Verdicts for a batch, aligned with it.

    ``score`` is NaN where the scorer has no numeric score; ``confidence`` is a
    calibrated probability in [0, 1] that the verdict is right.
    """

    score: FloatArray
    anomaly: BoolArray
    confidence: FloatArray
    scorer: list[str]

    def __len__(self) -> int:
        return len(self.anomaly)

    @staticmethod
    def empty() -> Scores:
        return Scores(np.empty(0), np.empty(0, dtype=np.bool_), np.empty(0), [])


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A loaded model: the sensor type it judges, its version and its file's sha256."""

    sensor_type: str
    version: int
    sha256: str

    @property
    def scorer_name(self) -> str:
        """What every result this model judges names as its scorer."""
        return scorer_name(self.sensor_type, self.version)


def scorer_name(sensor_type: str, version: int) -> str:
    """``onnx:<type>@<version>``, the one spelling of a model's name on the wire."""
    return f"onnx:{sensor_type}@{version}"


@runtime_checkable
class Scorer(Protocol):
    """Judges micro-batches of readings."""

    @property
    def name(self) -> str:
        """Short name reported with every result, e.g. ``rules``."""
        ...

    def score(self, batch: ReadingBatch) -> Scores:
        """Score every reading of ``batch``; never raises for finite input."""
        ...

    def models(self) -> Mapping[str, ModelInfo]:
        """The model judging each sensor type (empty for a scorer without models)."""
        ...
