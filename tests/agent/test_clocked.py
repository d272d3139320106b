"""Sensors on their own clocks, scheduled together: the vectorised clock is the scalar one."""

from __future__ import annotations

import random

import numpy as np

from edgewatch.agent.sources.clocked import ClockedSensors
from edgewatch.agent.sources.sensor_clock import SensorClockStream
from edgewatch.shared.desired import SimulatedSource

T0 = 1_800_000_000.0


def fleet(n: int, seed: int = 3) -> ClockedSensors:
    rng = random.Random(seed)
    streams = [
        SensorClockStream(
            SimulatedSource(
                seed=1,
                number=i,
                rate_hz=rng.choice([0.3, 1.0, 3.0, 7.0, 1000.0]),
                t0=T0 + rng.random(),
            ),
            f"S{i}",
        )
        for i in range(n)
    ]
    return ClockedSensors(streams, [0] * n)


def test_due_counts_are_exactly_the_streams_own() -> None:
    clocked = fleet(40)
    rng = random.Random(9)
    # Exactly on readings' ts (where rounding bites), just off them, and before t0.
    times = [s.ts(rng.randrange(0, 5000)) for s in clocked.streams for _ in range(5)]
    times += [float(np.nextafter(t, d)) for t in times for d in (-np.inf, np.inf)]  # 1 ulp off
    times += [t + d for t in times[:50] for d in (-1e-6, 1e-6)] + [T0 - 1.0]
    for now in times:
        due = clocked.due(now, 10**9).tolist()
        assert due == [s.due_count(now) for s in clocked.streams], now


def test_emit_moves_each_sensor_on_and_skip_before_counts_what_it_skips() -> None:
    clocked = fleet(5)
    now = T0 + 10.0
    counts = clocked.due(now, 3)
    assert counts.tolist() == [min(3, s.due_count(now)) for s in clocked.streams]
    batch = clocked.emit(counts)
    assert batch is not None and len(batch) == int(counts.sum())
    assert (np.diff(batch.ts) >= 0).all()
    assert clocked.next_j.tolist() == counts.tolist()
    emitted = counts.tolist()
    skipped = clocked.skip_before(now)
    for s, j, e in zip(clocked.streams, clocked.next_j.tolist(), emitted, strict=True):
        assert j == max(e, s.next_index(now)) and skipped.get(s.sensor_id, 0) == j - e
    assert clocked.emit(clocked.due(now, 0)) is None
