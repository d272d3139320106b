"""A simulated sensor on its own clock: values from (seed, number, j), ts from t0 + j / rate."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edgewatch.agent.sources.fleet_model import EpisodeTrack, SimConfig, build_fleet
from edgewatch.agent.sources.sensor_clock import BLOCK, SensorClockStream
from edgewatch.agent.sources.simulator import expected_stream
from edgewatch.shared.desired import SimulatedSource
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch

SEED = 20260101
T0 = 1_767_225_600.0


def source(number: int = 7, rate_hz: float = 4.0, **kw: object) -> SimulatedSource:
    return SimulatedSource(seed=SEED, number=number, rate_hz=rate_hz, t0=T0, **kw)  # type: ignore[arg-type]


def stream(number: int = 7, rate_hz: float = 4.0, **kw: object) -> SensorClockStream:
    return SensorClockStream(source(number, rate_hz, **kw), f"SENSOR_{number:03d}")


def assert_same_readings(a: ReadingBatch, b: ReadingBatch) -> None:
    assert a.sensor_id == b.sensor_id and a.sensor_type == b.sensor_type
    assert a.status == b.status and a.label == b.label
    np.testing.assert_array_equal(a.ts, b.ts)
    for name in SIM_METRICS:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])


@pytest.mark.parametrize("start", [0, 1, BLOCK - 8, 3 * BLOCK + 5, 1_000_003])
def test_streams_started_anywhere_agree_on_the_overlap(start: int) -> None:
    whole = stream().readings(start - min(start, 40), start + 700)
    late = stream()
    late.readings(start, start + 1)  # first touch at `start`, as a moved sensor's
    tail = late.readings(start, start + 700)
    assert_same_readings(tail, whole.take(range(min(start, 40), len(whole))))


def test_any_order_of_ranges_gives_the_same_readings() -> None:
    forward = stream().readings(0, 4000)
    s = stream()
    cuts = sorted(random.Random(5).sample(range(1, 4000), 30))
    ranges = list(zip([0, *cuts], [*cuts, 4000], strict=True))
    random.Random(6).shuffle(ranges)  # backwards seeks across blocks and episode chunks
    parts = {j0: s.readings(j0, j1) for j0, j1 in ranges}
    assert_same_readings(ReadingBatch.concat([parts[j0] for j0 in sorted(parts)]), forward)


def test_ts_is_t0_plus_j_over_rate_exactly() -> None:
    s = stream(rate_hz=3.0)  # 1/3 is not a binary fraction: any other formula shows
    batch = s.readings(999_990, 1_000_010)
    assert batch.ts.tolist() == [T0 + j / 3.0 for j in range(999_990, 1_000_010)]
    assert [s.ts(j) for j in range(999_990, 1_000_010)] == batch.ts.tolist()


def test_due_and_next_index_follow_the_ts_exactly() -> None:
    s = stream(rate_hz=7.0)
    times = [s.ts(j) for j in range(0, 3000, 37)]  # exactly on a reading's ts, and between
    times += [t + d for t in times for d in (-1e-7, 1e-7, 0.05)] + [T0 - 5.0]
    for t in times:
        n = s.due_count(t)
        assert (n == 0 or s.ts(n - 1) <= t) and s.ts(n) > t, t
        j = s.next_index(t)
        assert s.ts(j) >= t and (j == 0 or s.ts(j - 1) < t), t
    assert s.due_count(T0) == 1 and s.next_index(T0) == 0 and s.due_count(T0 - 1) == 0


def test_values_depend_only_on_seed_number_and_j() -> None:
    a = SensorClockStream(source(3), "pump-7", "pumps").readings(100, 400)
    b = SensorClockStream(source(3), "SENSOR_003").readings(100, 400)
    assert a.sensor_id[0] == "pump-7" and a.sensor_type[0] == "pumps"
    for name in SIM_METRICS:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
    other_number = stream(4).readings(100, 400)
    other_seed = SensorClockStream(
        SimulatedSource(seed=SEED + 1, number=3, rate_hz=4.0, t0=T0), "x"
    ).readings(100, 400)
    for other in (other_number, other_seed):
        assert not np.array_equal(b.metrics["humidity"], other.metrics["humidity"])


def test_a_sensor_is_the_simulated_fleets_sensor_of_that_number() -> None:
    fleet = build_fleet(SEED, 40)
    for number in (0, 17, 39):
        s = stream(number, anomaly_probability=0.0)
        assert s.info == fleet.sensors[number]
        batch = s.readings(0, 20_000)
        assert set(batch.sensor_type) == {fleet.sensors[number].sensor_type}
        for m, name in enumerate(SIM_METRICS):
            # Noise sd 2, 5, 5, 0.1, 5 over 20k readings: the mean is the base to ~0.04.
            base = fleet.base[number, m]
            assert abs(batch.metrics[name].mean() - base) < 0.2 * max(1.0, base / 100), name


def test_episodes_are_the_simulated_fleets_schedule() -> None:
    # The simulator at 5 sensors x 4 Hz each runs sensor 2's episodes on a 4 Hz clock too.
    fleet = expected_stream(SEED, 5, 0, 5 * 30_000, rate=20.0, anomaly_probability=0.01)
    labels = fleet.label[2::5]
    mine = stream(2, rate_hz=4.0, anomaly_probability=0.01).readings(0, 30_000)
    assert mine.label == labels
    assert 0.05 < mine.label.count(1) / len(mine) < 0.95  # there are episodes to compare
    assert all(s == "alert" for s, lab in zip(mine.status, mine.label, strict=True) if lab)


def test_no_episodes_without_anomaly_probability() -> None:
    batch = stream(anomaly_probability=0.0).readings(0, 5000)
    assert set(batch.label) == {0}


def test_episode_track_seeks_anywhere_exactly() -> None:
    config = SimConfig(seed=SEED, sensors=1, anomaly_probability=0.05, sensor_hz=1.0)
    walked = np.zeros(300_000, dtype=np.int64)
    EpisodeTrack(config, 9).paint(walked, 0)
    track = EpisodeTrack(config, 9)
    rng = random.Random(1)
    for _ in range(200):
        j0 = rng.randrange(0, 299_000)
        row = np.zeros(rng.randrange(1, 1000), dtype=np.int64)
        track.paint(row, j0)
        np.testing.assert_array_equal(row, walked[j0 : j0 + len(row)])


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="j0 <= j1"):
        stream().readings(5, 4)
    with pytest.raises(ValueError, match="j0 <= j1"):
        stream().readings(-1, 4)
