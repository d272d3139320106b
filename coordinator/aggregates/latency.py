"""Reading -> committed latency as a mergeable histogram with bounded relative error.

Quantiles do not merge; histograms do. Buckets grow geometrically (DDSketch's scheme,
Masson et al. 2019): bucket ``k`` holds latencies in ``(GAMMA^(k-1), GAMMA^k]`` seconds,
so any quantile read back is within ``ALPHA`` (2 %) of a latency that was observed,
whatever the range (a millisecond on a quiet link, an hour for a backlog). Latencies at
or below ``FLOOR`` (1 ms, or negative from a clock ahead) share bucket ``0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

ALPHA = 0.02
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
FLOOR = 1e-3
_K_FLOOR = math.ceil(math.log(FLOOR) / _LOG_GAMMA)


def buckets_of(latency_s: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The bucket of each latency (vectorised)."""
    clipped = np.maximum(latency_s, FLOOR)
    k = np.ceil(np.log(clipped) / _LOG_GAMMA).astype(np.int64) - _K_FLOOR
    return np.asarray(np.maximum(k, 0), dtype=np.int64)


def bucket_value(k: int) -> float:
    """A representative latency of bucket ``k`` (within ALPHA of all it holds)."""
    if k <= 0:
        return FLOOR
    upper = GAMMA ** (k + _K_FLOOR)
    return 2 * upper / (1 + GAMMA)


def quantile(histogram: Mapping[str, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram, seconds; None if it is empty."""
    pairs = sorted((int(k), n) for k, n in histogram.items() if n > 0)
    total = sum(n for _, n in pairs)
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for k, n in pairs:
        seen += n
        if seen > rank:
            return bucket_value(k)
    return bucket_value(pairs[-1][0])


def shifted(histogram: Mapping[str, int], q: float, offset_s: float) -> float | None:
    """``quantile`` plus a constant (an agent's clock offset), never below zero."""
    value = quantile(histogram, q)
    return None if value is None else max(0.0, value + offset_s)
