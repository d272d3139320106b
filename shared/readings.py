"""The in-process form of readings: columnar micro-batches.

Sources produce ``ReadingBatch``es, scorers judge them whole (numpy and onnxruntime are
fast per batch and slow per row), and the outbox stores them as one wire batch. A metric
a reading does not have is ``NaN`` in its column; on the wire it becomes ``null``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# The simulator's schema (the original notebook's five metrics), not the only one.
SIM_METRICS: tuple[str, ...] = (
    "temperature",
    "humidity",
    "pressure",
    "vibration",
    "power_consumption",
)


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """``n`` readings, one list/array per field. ``status``/``label`` entries may be None."""

    sensor_id: list[str]
    sensor_type: list[str]
    ts: FloatArray
    metrics: dict[str, FloatArray]
    status: list[str | None] = field(default_factory=list)
    label: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.sensor_id)
        if not self.status:
            object.__setattr__(self, "status", [None] * n)
        if not self.label:
            object.__setattr__(self, "label", [None] * n)
        lengths = {len(self.sensor_type), len(self.ts), len(self.status), len(self.label)}
        lengths |= {len(v) for v in self.metrics.values()}
        if lengths - {n}:
            raise ValueError(f"ReadingBatch columns differ in length: {sorted(lengths | {n})}")

    def __len__(self) -> int:
        return len(self.sensor_id)

    def take(self, index: Sequence[int] | npt.NDArray[np.intp]) -> ReadingBatch:
        """The readings at ``index``, in that order."""
        idx = np.asarray(index, dtype=np.intp)
        pick = idx.tolist()
        return ReadingBatch(
            sensor_id=[self.sensor_id[i] for i in pick],
            sensor_type=[self.sensor_type[i] for i in pick],
            ts=self.ts[idx],
            metrics={k: v[idx] for k, v in self.metrics.items()},
            status=[self.status[i] for i in pick],
            label=[self.label[i] for i in pick],
        )

    def finite_mask(self) -> BoolArray:
        """True where the reading has at least one metric and no infinite value.

        NaN means "absent"; +-inf is a broken sensor and never leaves the agent.
        """
        if not self.metrics:
            return np.zeros(len(self), dtype=np.bool_)
        cols = np.vstack(list(self.metrics.values()))
        present = ~np.isnan(cols)
        mask = np.logical_and(present.any(axis=0), ~np.isinf(cols).any(axis=0))
        return np.asarray(mask, dtype=np.bool_)

    @staticmethod
    def concat(batches: Sequence[ReadingBatch]) -> ReadingBatch:
        """Join batches; a metric missing from some batch is NaN there."""
        names: list[str] = []
        for b in batches:
            names.extend(m for m in b.metrics if m not in names)
        metrics = {
            m: np.concatenate([b.metrics.get(m, np.full(len(b), np.nan)) for b in batches])
            for m in names
        }
        return ReadingBatch(
            sensor_id=[s for b in batches for s in b.sensor_id],
            sensor_type=[s for b in batches for s in b.sensor_type],
            ts=np.concatenate([b.ts for b in batches]) if batches else np.empty(0),
            metrics=metrics,
            status=[s for b in batches for s in b.status],
            label=[s for b in batches for s in b.label],
        )
