"""From a page of readings to per-window contributions, vectorised.

Readings are grouped once at the finest grain, ``(sensor, type, agent, minute)``, with
numpy (two passes per group: mean, then squared deviations). Those groups are then
rolled up in Python into every window that holds them: four scopes times four sizes.
The Python work is per group, not per reading, so a page of 100,000 live readings of 50
sensors costs a few hundred merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgewatch.coordinator.aggregates.latency import buckets_of
from edgewatch.coordinator.aggregates.stats import STATUSES, MetricStats, WindowStats
from edgewatch.coordinator.aggregates.windows import FLEET, LATE_GRACE_S, SIZES
from edgewatch.shared.schemas import ResultBatch

FloatArray = npt.NDArray[np.float64]
WindowKey = tuple[str, int, int]  # (scope, size_s, start)


@dataclass(frozen=True)
class Columns:
    """Stored readings in columns, as the store hands them to the aggregates.

    ``metrics[name][i]`` is NaN where reading ``i`` has no such metric.
    """

    sensor_id: Sequence[str]
    sensor_type: Sequence[str]
    agent_id: Sequence[str]
    status: Sequence[str | None]
    ts: FloatArray
    stored_at: FloatArray
    anomaly: npt.NDArray[np.bool_]
    metrics: dict[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sensor_id)


def _floats(values: Sequence[float | None]) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)  # no None: one C loop
    except TypeError:
        nan = float("nan")
        return np.fromiter((nan if v is None else v for v in values), np.float64, len(values))


def columns_of_batch(batch: ResultBatch, stored_at: float) -> Columns:
    """A whole stored batch in columns, without the store (``CommittedFeed.recent``)."""
    n = batch.size
    return Columns(
        sensor_id=batch.sensor_id,
        sensor_type=batch.sensor_type,
        agent_id=[batch.agent_id] * n,
        status=batch.status,
        ts=np.asarray(batch.ts, dtype=np.float64),
        stored_at=np.full(n, stored_at),
        anomaly=np.asarray(batch.anomaly, dtype=np.bool_),
        metrics={name: _floats(values) for name, values in batch.metrics.items()},
    )


def concat(parts: Sequence[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    names: dict[str, None] = {}
    for p in parts:
        names.update(dict.fromkeys(p.metrics))
    nan = float("nan")
    return Columns(
        sensor_id=[s for p in parts for s in p.sensor_id],
        sensor_type=[s for p in parts for s in p.sensor_type],
        agent_id=[s for p in parts for s in p.agent_id],
        status=[s for p in parts for s in p.status],
        ts=np.concatenate([p.ts for p in parts]),
        stored_at=np.concatenate([p.stored_at for p in parts]),
        anomaly=np.concatenate([p.anomaly for p in parts]),
        metrics={
            m: np.concatenate([p.metrics.get(m, np.full(len(p), nan)) for p in parts])
            for m in names
        },
    )


@dataclass(frozen=True)
class Contribution:
    """What a page adds to one window; ``late`` if any of it came after the window closed."""

    stats: WindowStats
    last_stored_at: float
    late: bool


def _groups(
    cols: Columns,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[tuple[str, str, str, int]]]:
    """Group number of each reading, and each group's (sensor, type, agent, minute)."""
    series = list(zip(cols.sensor_id, cols.sensor_type, cols.agent_id, strict=True))
    index = {k: i for i, k in enumerate(dict.fromkeys(series))}
    code = np.array([index[k] for k in series], dtype=np.int64)
    names = list(index)
    minute = np.floor(cols.ts / 60.0).astype(np.int64)
    base = int(minute.min())
    span = int(minute.max()) - base + 1
    key = code * span + (minute - base)
    uniq, inverse = np.unique(key, return_inverse=True)
    labels = []
    for k in uniq.tolist():
        c, m = divmod(k, span)
        sensor, stype, agent = names[c]
        labels.append((sensor, stype, agent, (m + base) * 60))
    return inverse.astype(np.int64), uniq, labels


@dataclass(frozen=True)
class _Moments:
    """One metric over groups (or windows): arrays aligned with them; count 0 = absent."""

    count: FloatArray
    mean: FloatArray
    m2: FloatArray
    low: FloatArray
    high: FloatArray


def _reduce(
    into: npt.NDArray[np.int64], size: int, count: FloatArray, mean: FloatArray, m2: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Combine parts into ``size`` totals: ``into[i]`` is the total part ``i`` belongs to.

    The pairwise update of Chan et al., for many parts at once: the total mean is the
    count-weighted mean of the parts' means, and the total m2 adds each part's m2 and its
    count times the squared distance of its mean from the total mean. Exact in algebra,
    and free of the cancellation of the sum-of-squares formula.
    """
    n = np.bincount(into, weights=count, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        total_mean = np.bincount(into, weights=count * np.nan_to_num(mean), minlength=size) / n
    dev = np.where(count > 0, np.nan_to_num(mean) - total_mean[into], 0.0)
    total_m2 = np.bincount(into, weights=np.nan_to_num(m2) + count * dev * dev, minlength=size)
    return n.astype(np.float64), total_mean.astype(np.float64), total_m2.astype(np.float64)


def _extreme(
    into: npt.NDArray[np.int64],
    size: int,
    values: FloatArray,
    present: npt.NDArray[np.bool_],
    lowest: bool,
) -> FloatArray:
    out = np.full(size, np.inf if lowest else -np.inf)
    (np.minimum if lowest else np.maximum).at(out, into[present], values[present])
    return out


def _moments(g: npt.NDArray[np.int64], n: int, x: FloatArray) -> _Moments:
    """Two passes per group over raw values: mean, then squared deviations from it."""
    present = ~np.isnan(x)
    gp, xp = g[present], x[present]
    count = np.bincount(gp, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(gp, weights=xp, minlength=n) / count
    dev = xp - mean[gp]
    m2 = np.bincount(gp, weights=dev * dev, minlength=n).astype(np.float64)
    ones = np.ones(len(xp), dtype=np.bool_)
    return _Moments(
        count, mean, m2, _extreme(gp, n, xp, ones, True), _extreme(gp, n, xp, ones, False)
    )


def contributions(cols: Columns) -> dict[WindowKey, Contribution]:
    """Everything ``cols`` adds, per window of every scope and size."""
    if not len(cols):
        return {}
    g, uniq, labels = _groups(cols)
    n = len(uniq)
    # Per fine group (sensor, type, agent, minute), vectorised over the readings.
    count = np.bincount(g, minlength=n).astype(np.float64)
    anomalies = np.bincount(g, weights=cols.anomaly.astype(np.float64), minlength=n)
    stored = _extreme(g, n, cols.stored_at, np.ones(len(g), dtype=np.bool_), False)
    codes: dict[str | None, int] = {"normal": 0, "warning": 1, "alert": 2}
    status_code = np.array([codes.get(s, 3) for s in cols.status], dtype=np.int64)
    statuses = np.bincount(g * 4 + status_code, minlength=n * 4).reshape(n, 4).astype(np.float64)
    lat_pair, lat_n = np.unique(
        g * 100_000 + buckets_of(cols.stored_at - cols.ts), return_counts=True
    )
    lat_group, lat_bucket = np.divmod(lat_pair, 100_000)
    metrics = {name: _moments(g, n, x) for name, x in cols.metrics.items()}
    # Every fine group belongs to 16 windows: 4 scopes x 4 sizes. Number them.
    index: dict[WindowKey, int] = {}
    into_parts = []
    for size in SIZES:
        for kind in range(4):
            idx = []
            for sensor, stype, agent, minute in labels:
                scope = (f"sensor:{sensor}", f"type:{stype}", f"agent:{agent}", FLEET)[kind]
                key = (scope, size, minute - minute % size)
                idx.append(index.setdefault(key, len(index)))
            into_parts.append(np.asarray(idx, dtype=np.int64))
    into = np.concatenate(into_parts)
    src = np.tile(np.arange(n), len(into_parts))
    t = len(index)
    w_count = np.bincount(into, weights=count[src], minlength=t)
    w_anom = np.bincount(into, weights=anomalies[src], minlength=t)
    w_stored = _extreme(into, t, stored[src], np.ones(len(into), dtype=np.bool_), False)
    w_status = np.stack(
        [np.bincount(into, weights=statuses[src, k], minlength=t) for k in range(4)], 1
    )
    w_metrics = {}
    for name, m in metrics.items():
        c, mean, m2 = _reduce(into, t, m.count[src], m.mean[src], m.m2[src])
        present = m.count[src] > 0
        lo = _extreme(into, t, m.low[src], present, True)
        hi = _extreme(into, t, m.high[src], present, False)
        w_metrics[name] = (c, mean, m2, lo, hi)
    # Latency: each (group, bucket, count) goes to the group's 16 windows.
    lat_into = into.reshape(len(into_parts), n)[:, lat_group].ravel()
    lat_key, lat_inverse = np.unique(
        lat_into * 100_000 + np.tile(lat_bucket, len(into_parts)), return_inverse=True
    )
    lat_total = np.bincount(lat_inverse, weights=np.tile(lat_n, len(into_parts)).astype(np.float64))
    latency: list[dict[str, int]] = [{} for _ in range(t)]
    for key_, total in zip(lat_key.tolist(), lat_total.tolist(), strict=True):
        w, bucket = divmod(key_, 100_000)
        latency[w][str(bucket)] = int(total)
    out: dict[WindowKey, Contribution] = {}
    for key, w in index.items():
        _, size, start = key
        stats = WindowStats(
            count=int(w_count[w]),
            anomalies=round(w_anom[w]),
            statuses={STATUSES[k]: int(v) for k, v in enumerate(w_status[w]) if v},
            latency=latency[w],
            metrics={
                name: MetricStats(
                    int(c[w]), float(mean[w]), float(m2[w]), float(lo[w]), float(hi[w])
                )
                for name, (c, mean, m2, lo, hi) in w_metrics.items()
                if c[w] > 0
            },
        )
        last = float(w_stored[w])
        out[key] = Contribution(stats, last, last >= start + size + LATE_GRACE_S)
    return out
