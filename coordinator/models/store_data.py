"""Training data from the store: what the fleet synced, cleaned, split in time.

For one sensor type, the newest ``max_rows`` readings stored in the window (by reading
time) are read columnar, in one bounded query (memory stays ~``max_rows`` × metrics ×
8 bytes, whatever the store holds). Then:

- the newest ``holdout`` share (by time) is **held back**, all of it, anomalies included:
  the offline evaluation scores it (anomaly rate, score distribution, F1 when labelled);
- from the older rows, readings **judged anomalous** (by the edge's verdict or the
  cloud's re-scoring) or **labelled** anomalous are **left out** (not down-weighted):
  the model learns what normal looks like, and the count left out is recorded;
- metrics present in fewer than half of the training rows are dropped from the feature
  spec (a rarely reported metric would be mostly imputed noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewatch.coordinator.models.errors import NotEnoughData
from edgewatch.coordinator.store import ModelStore
from edgewatch.coordinator.store.model_records import TrainingQuery
from edgewatch.shared.readings import ReadingBatch


@dataclass(frozen=True)
class TrainingData:
    train: ReadingBatch
    held: ReadingBatch
    metrics: tuple[str, ...]
    excluded: int
    agents: tuple[str, ...]


@dataclass(frozen=True)
class DataSettings:
    window_s: float = 7 * 86_400.0
    min_rows: int = 1000
    max_rows: int = 100_000
    holdout: float = 0.2


def training_data(
    store: ModelStore,
    sensor_type: str,
    settings: DataSettings,
    *,
    now: float,
    since: float | None = None,
    until: float | None = None,
) -> TrainingData:
    """Raises ``NotEnoughData`` (counts in it) when fewer than ``min_rows`` clean readings."""
    start = since if since is not None else now - settings.window_s
    rows = store.training_rows(TrainingQuery(sensor_type, start, until, settings.max_rows))
    n = len(rows)
    cut = n - round(n * settings.holdout)
    labels = np.array([lbl == 1 for lbl in rows.batch.label], dtype=np.bool_)
    bad = rows.anomaly | rows.cloud_anomaly | labels
    keep = np.flatnonzero(~bad[:cut])
    what = f"{sensor_type!r} (readings since {start:.0f})"
    if len(keep) < settings.min_rows:
        raise NotEnoughData(what, len(keep), settings.min_rows)
    train = rows.batch.take(keep)
    held = rows.batch.take(np.arange(cut, n))
    present = [
        name
        for name, column in train.metrics.items()
        if np.count_nonzero(~np.isnan(column)) * 2 >= len(train)
    ]
    if not present:
        raise NotEnoughData(f"{what}: no metric present in half the readings", 0, settings.min_rows)
    return TrainingData(
        train=train,
        held=held,
        metrics=tuple(present),
        excluded=int(np.count_nonzero(bad[:cut])),
        agents=tuple(sorted({rows.agent_id[i] for i in keep.tolist()})),
    )
