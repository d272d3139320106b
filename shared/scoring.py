"""The scorer contract, shared by the agent (rules, ONNX) and the coordinator (hybrid).

Following River's anomaly API: a higher ``score`` means more anomalous, and the verdict
(``anomaly``) comes from a threshold the scorer owns. Scorers judge a whole micro-batch
at once; every result says which scorer judged it (``rules``, ``onnx:<type>@<version>``).
"""

from __future__ import annotations

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
