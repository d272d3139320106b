"""The simulated fleet: determinism, seeking, pacing, counts and the episode model."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edgewatch.agent.sources.simulator import Simulator, build_fleet, expected_stream
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch

SEED = 20240611


def drain(source: Simulator, poll_size: int) -> ReadingBatch:
    batches = []
    while (batch := source.poll(poll_size)) is not None:
        batches.append(batch)
    return ReadingBatch.concat(batches)


def assert_same_stream(a: ReadingBatch, b: ReadingBatch) -> None:
    assert a.sensor_id == b.sensor_id
    assert a.sensor_type == b.sensor_type
    assert a.status == b.status
    assert a.label == b.label
    for name in SIM_METRICS:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])


@pytest.mark.parametrize("poll_size", [1, 7, 500])
@pytest.mark.parametrize("start", [1234, 8195])  # 8195 straddles the first round (7 sensors)
def test_start_k_is_the_tail_of_start_0(poll_size: int, start: int) -> None:
    whole = expected_stream(SEED, 7, 0, 9000)
    tail = drain(Simulator(seed=SEED, sensors=7, count=9000, start=start), poll_size)
    assert len(tail) == 9000 - start
    assert_same_stream(tail, whole.take(range(start, 9000)))


def test_stream_does_not_depend_on_poll_sizes() -> None:
    small = drain(Simulator(seed=SEED, sensors=5, count=3000), 1)
    large = drain(Simulator(seed=SEED, sensors=5, count=3000), 997)
    assert_same_stream(small, large)


def test_seeds_and_offsets_change_the_stream() -> None:
    a = expected_stream(SEED, 5, 0, 100)
    b = expected_stream(SEED + 1, 5, 0, 100)
    assert not np.array_equal(a.metrics["temperature"], b.metrics["temperature"])


def test_reading_k_is_sensor_k_mod_s() -> None:
    batch = expected_stream(SEED, 4, 10, 12)
    assert batch.sensor_id == ["SENSOR_010", "SENSOR_011", "SENSOR_012", "SENSOR_013"] * 3


def test_two_agents_describe_one_fleet() -> None:
    whole = build_fleet(SEED, 34, 0).sensors
    parts = build_fleet(SEED, 17, 0).sensors + build_fleet(SEED, 17, 17).sensors
    assert parts == whole
    assert {s.sensor_type for s in whole} <= {
        "industrial",
        "environmental",
        "automotive",
        "medical",
    }
    assert all(-90 <= (s.latitude or 0) <= 90 and -180 <= (s.longitude or 0) <= 180 for s in whole)


def test_count_is_exact_and_the_stream_ends_with_none() -> None:
    sim = Simulator(seed=SEED, sensors=3, count=1000)
    sizes = []
    while (batch := sim.poll(300)) is not None:
        sizes.append(len(batch))
    assert sizes == [300, 300, 300, 100]
    assert sim.position == 1000
    assert sim.poll(300) is None


def test_resumed_source_emits_count_minus_start() -> None:
    sim = Simulator(seed=SEED, sensors=3, count=1000, start=400)
    assert sim.position == 400
    assert len(drain(sim, 64)) == 600


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacing_follows_the_rate_without_drift() -> None:
    clock = FakeClock()
    sim = Simulator(seed=SEED, sensors=4, rate=10.0, clock=clock, wall=lambda: 1.7e9)
    first = sim.poll(100)
    assert first is not None and len(first) == 1
    assert np.all(first.ts == 1.7e9)
    empty = sim.poll(100)
    assert empty is not None and len(empty) == 0
    assert sim.wait_hint() == pytest.approx(0.1)
    emitted = 1
    for _ in range(1000):  # 1000 polls 0.0137 s apart: 13.7 s -> 137 more readings
        clock.now += 0.0137
        emitted += len(sim.poll(100) or [])
    assert emitted == 1 + 137


def test_a_stall_releases_at_most_one_second_of_readings() -> None:
    clock = FakeClock()
    sim = Simulator(seed=SEED, sensors=4, rate=50.0, clock=clock)
    sim.poll(1000)
    clock.now += 60.0
    assert len(sim.poll(1000) or []) == 50
    clock.now += 0.1
    assert len(sim.poll(1000) or []) == 5


def test_unpaced_returns_max_n() -> None:
    sim = Simulator(seed=SEED, sensors=4, rate=0.0)
    assert len(sim.poll(777) or []) == 777
    assert sim.wait_hint() == 0.0


def test_values_are_rounded_and_clipped_like_the_notebook() -> None:
    batch = expected_stream(SEED, 10, 0, 5000)
    temp, vib = batch.metrics["temperature"], batch.metrics["vibration"]
    np.testing.assert_allclose(temp * 100, np.round(temp * 100), atol=1e-6)
    np.testing.assert_allclose(vib * 1000, np.round(vib * 1000), atol=1e-6)
    assert temp.min() >= -40 and temp.max() <= 80 and vib.min() >= 0 and vib.max() <= 10
    assert batch.metrics["humidity"].min() >= 0 and batch.metrics["humidity"].max() <= 100


def label_runs(labels: list[int]) -> list[int]:
    padded = np.concatenate([[0], labels, [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [int(x) for x in edges[1::2] - edges[::2]]


def test_episode_statistics_match_the_model() -> None:
    sensors, per_sensor = 20, 3000
    # The notebook's rate, where episodes are frequent enough to measure their shape.
    batch = expected_stream(SEED, sensors, 0, sensors * per_sensor, anomaly_probability=0.05)
    labels = np.array(batch.label).reshape(per_sensor, sensors)
    # Episode of floor(Exp(30 s) * 1 Hz) + 1 readings, normal gap Geometric(0.05) - 1.
    mean_episode = 1 / (1 - np.exp(-1 / 30))
    expected = mean_episode / (mean_episode + 0.95 / 0.05)
    assert labels.mean() == pytest.approx(expected, abs=0.04)
    runs = [r for s in range(sensors) for r in label_runs(labels[:, s].tolist())]
    # Back-to-back episodes (gap 0, p = 0.05) merge into one run: slightly longer runs.
    assert 27 < float(np.mean(runs)) < 38


def test_a_faster_simulated_clock_lengthens_episodes_in_readings() -> None:
    slow = np.array(expected_stream(SEED, 10, 0, 20_000, rate=0.0).label)
    fast = np.array(expected_stream(SEED, 10, 0, 20_000, rate=40.0).label)  # 4 Hz per sensor
    assert fast.mean() > slow.mean() + 0.15


def test_no_episodes_without_anomaly_probability() -> None:
    batch = expected_stream(SEED, 5, 0, 2000, anomaly_probability=0.0)
    assert set(batch.label) == {0}


def test_labelled_readings_are_alerts_and_normal_readings_unlabelled() -> None:
    batch = expected_stream(SEED, 10, 0, 10_000)
    status = np.array(batch.status)
    label = np.array(batch.label)
    assert (status[label == 1] == "alert").all()
    assert (label[status == "normal"] == 0).all()
    assert {"normal", "warning", "alert"} <= set(batch.status)


def test_episodes_show_in_the_metrics() -> None:
    batch = expected_stream(SEED, 10, 0, 10_000)
    label = np.array(batch.label) == 1
    vib = batch.metrics["vibration"]
    # Half the episode kinds add U(2, 5) to a vibration of about 0.5.
    assert (vib[label] > 2.0).mean() > 0.3
    assert (vib[~label] > 2.0).mean() < 0.01


def test_random_seed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="edgewatch.agent.sources.simulator"):
        sim = Simulator(seed=None, sensors=2)
    assert f"seed={sim.seed}" in caplog.text


def test_one_default_episode_rate_everywhere() -> None:
    """The simulator, its test ledgers and the agent's settings once disagreed (0.05 vs
    0.005): a default stream and a default agent must describe the same fleet."""
    from edgewatch.agent.settings import AgentSettings
    from edgewatch.agent.sources.fleet_model import DEFAULT_ANOMALY_PROBABILITY, SimConfig

    settings = AgentSettings()
    assert settings.anomaly_probability == DEFAULT_ANOMALY_PROBABILITY
    assert SimConfig(seed=1, sensors=1).anomaly_probability == DEFAULT_ANOMALY_PROBABILITY
    by_default = expected_stream(SEED, 5, 0, 20_000)
    explicit = expected_stream(SEED, 5, 0, 20_000, anomaly_probability=settings.anomaly_probability)
    assert by_default.label == explicit.label
    # At one reading per second per sensor: about E / (E + 1/p) inside an episode, with
    # E = 30 s x 1 Hz + 1 readings: ~13 %, as docs/sources.md says.
    share = sum(1 for x in by_default.label if x) / len(by_default)
    assert 0.08 < share < 0.20, share
