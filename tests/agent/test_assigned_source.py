"""The assigned source on a ManualClock: apply at runtime, ts order, nothing lost or repeated."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest

from edgewatch.agent.sources.assigned import AssignedSource
from edgewatch.agent.sources.base import AssignableSource, Source
from edgewatch.agent.sources.sensor_clock import SensorClockStream
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.desired import AssignedSensor, SimulatedSource, SiteSource
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch

SEED = 77
T0 = 1_800_000_000.0


def sim(number: int, rate_hz: float = 2.0, t0: float = T0, **kw: object) -> AssignedSensor:
    src = SimulatedSource(seed=SEED, number=number, rate_hz=rate_hz, t0=t0, **kw)  # type: ignore[arg-type]
    return AssignedSensor(sensor_id=f"SENSOR_{number:03d}", sensor_type="industrial", source=src)


def site(sensor_id: str) -> AssignedSensor:
    return AssignedSensor(
        sensor_id=sensor_id, sensor_type="pump", source=SiteSource(topic=f"site/{sensor_id}")
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall=T0)


def drain(src: AssignedSource, size: int) -> list[ReadingBatch]:
    out = []
    while len(batch := src.poll(size)):
        out.append(batch)
    return out


def js_by_sensor(batches: list[ReadingBatch]) -> dict[str, list[int]]:
    """Reading numbers per sensor (all sensors here run at 2 Hz from T0)."""
    out: dict[str, list[int]] = defaultdict(list)
    for b in batches:
        for sid, ts in zip(b.sensor_id, b.ts.tolist(), strict=True):
            out[sid].append(round((ts - T0) * 2.0))
    return out


def test_it_is_an_assignable_source(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock, start=41)
    assert isinstance(src, Source) and isinstance(src, AssignableSource)
    assert src.position == 41 and src.active() == [] and src.sensors == []
    assert len(src.poll(10)) == 0 and src.wait_hint() > 0


@pytest.mark.parametrize("size", [1, 7, 500])
def test_no_reading_is_lost_or_repeated_across_polls(clock: ManualClock, size: int) -> None:
    src = AssignedSource(clock=clock, max_lag_s=1e6)  # polls of 1 fall behind: no skipping
    sensors = [sim(n, rate_hz=r) for n, r in ((1, 2.0), (2, 3.0), (5, 10.0))]
    src.apply(sensors)
    rng = random.Random(size)
    got: list[ReadingBatch] = []
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.01, 0.1, 0.37, 2.0]))
        for _ in range(rng.randrange(0, 3)):  # sometimes one poll, sometimes none
            got.append(src.poll(size))
    got.extend(drain(src, size))
    now = clock.time()
    assert sum(len(b) for b in got) == src.position
    every = ReadingBatch.concat(got)
    for a in sensors:
        stream = SensorClockStream(a.source, a.sensor_id, a.sensor_type)  # type: ignore[arg-type]
        mine = every.take([i for i, s in enumerate(every.sensor_id) if s == a.sensor_id])
        expected = stream.readings(0, stream.due_count(now))
        np.testing.assert_array_equal(mine.ts, expected.ts)  # every j once, in order
        assert mine.label == expected.label and mine.status == expected.status
        for name in SIM_METRICS:
            np.testing.assert_array_equal(mine.metrics[name], expected.metrics[name])


def test_each_poll_is_in_ts_order_and_takes_the_earliest(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    src.apply([sim(1, rate_hz=2.0), sim(2, rate_hz=5.0), sim(3, rate_hz=0.5)])
    clock.advance(10.0)
    due = {1: 21, 2: 51, 3: 6}
    every = sorted(T0 + j / r for n, r in ((1, 2.0), (2, 5.0), (3, 0.5)) for j in range(due[n]))
    first = src.poll(25)
    assert first.ts.tolist() == every[:25]
    rest = drain(src, 25)
    assert np.concatenate([b.ts for b in rest]).tolist() == every[25:]


def test_apply_adds_and_removes_without_a_restart(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    assert src.apply([sim(1), sim(2)]) == []
    clock.advance(1.0)
    before = drain(src, 100)
    clock.advance(2.2)  # 3.2 s: readings up to j = 6 are due and not polled yet
    assert src.apply([sim(2), sim(3)]) == []
    assert src.active() == ["SENSOR_002", "SENSOR_003"]
    clock.advance(2.0)
    after = drain(src, 100)
    js_before, js_after = js_by_sensor(before), js_by_sensor(after)
    assert js_before["SENSOR_001"] == [0, 1, 2] and "SENSOR_001" not in js_after
    # Kept: it goes on exactly where it was, its due readings too (none twice, none lost).
    assert js_before["SENSOR_002"] + js_after["SENSOR_002"] == list(range(11))
    # Added at 3.2 s: it starts at the first reading due at or after then (j = 7 at 3.5 s).
    assert js_after["SENSOR_003"] == [7, 8, 9, 10]


def test_new_metadata_keeps_the_stream_going(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    src.apply([sim(1)])
    clock.advance(1.0)
    first = src.poll(100)
    clock.advance(1.0)
    moved = sim(1).model_copy(update={"sensor_type": "pumps", "latitude": 1.0})
    src.apply([moved])
    after = src.poll(100)
    assert first.ts.tolist() + after.ts.tolist() == [T0 + j / 2 for j in range(5)]
    assert set(after.sensor_type) == {"pumps"} and src.sensors[0].latitude == 1.0


def test_a_changed_sensor_starts_again_at_now(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    src.apply([sim(1)])
    clock.advance(1.0)
    drain(src, 100)
    clock.advance(5.0)  # 10 readings due at 2 Hz, not yet polled
    src.apply([sim(1, rate_hz=4.0)])
    clock.advance(0.5)
    ts = np.concatenate([b.ts for b in drain(src, 100)]).tolist()
    assert ts == [T0 + 6.0, T0 + 6.25, T0 + 6.5]


def test_a_moved_sensor_continues_its_stream(clock: ManualClock) -> None:
    """Agent A owns sensor 4 until 10 s, agent B from 8 s: the overlap is the same readings."""
    a, b = AssignedSource(clock=clock), AssignedSource(clock=clock)
    a.apply([sim(4)])
    clock.advance(8.0)
    b.apply([sim(4)])
    from_a = drain(a, 1000)
    clock.advance(2.0)
    from_a += drain(a, 1000)
    a.apply([])
    from_b = drain(b, 1000)
    got_a, got_b = ReadingBatch.concat(from_a), ReadingBatch.concat(from_b)
    overlap = [i for i, t in enumerate(got_a.ts.tolist()) if t >= T0 + 8.0]
    assert got_b.ts.tolist() == got_a.ts[overlap].tolist() == [T0 + j / 2 for j in range(16, 21)]
    for name in SIM_METRICS:
        np.testing.assert_array_equal(got_b.metrics[name], got_a.metrics[name][overlap])
    assert got_b.label == [got_a.label[i] for i in overlap]


def test_a_stall_within_the_bound_loses_nothing(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock, max_lag_s=60.0)
    src.apply([sim(1), sim(2)])
    clock.advance(59.0)
    assert sum(len(b) for b in drain(src, 7)) == 2 * 119
    assert src.counters().gaps == {}


def test_a_long_stall_skips_ahead_and_counts_the_gap(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock, max_lag_s=60.0)
    src.apply([sim(1), sim(2, rate_hz=10.0)])
    clock.advance(100.0)
    got = drain(src, 50)
    ts = ReadingBatch.concat(got)
    for sid, rate in (("SENSOR_001", 2.0), ("SENSOR_002", 10.0)):
        mine = [t for s, t in zip(ts.sensor_id, ts.ts.tolist(), strict=True) if s == sid]
        assert mine[0] == T0 + 40.0 and mine[-1] == T0 + 100.0  # the last minute, whole
        assert len(mine) == 60 * rate + 1
        assert src.counters().gaps[sid] == 40 * rate  # readings 0 .. 40 s, skipped
    # The catch-up drained in many polls: the horizon moved with each one, nothing more lost.
    assert src.position == sum(len(b) for b in got) == 121 + 601


def test_wait_hint_is_the_time_to_the_next_reading(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    src.apply([sim(1, t0=T0 + 3.0), sim(2, rate_hz=4.0, t0=T0 + 5.0)])
    assert src.wait_hint() == pytest.approx(3.0)
    clock.advance(3.0)
    assert src.wait_hint() == 0.0
    src.poll(10)
    assert src.wait_hint() == pytest.approx(0.5)
    src.apply([sim(2, rate_hz=4.0, t0=T0 + 5.0)])
    assert src.wait_hint() == pytest.approx(2.0)
    clock.advance(1.999)  # due in 1 ms: the hint says 10, so fast sensors come in batches
    assert src.wait_hint() == pytest.approx(0.01)


def test_site_sensors_need_a_site_broker(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    problems = src.check([sim(1), site("pump-7")])
    assert problems == ["sensor pump-7 is read from a site broker, and none is set"]
    assert src.active() == []  # check changes nothing
    assert src.apply([sim(1), site("pump-7"), sim(1)]) == [
        "sensor pump-7 is read from a site broker, and none is set",
        "sensor SENSOR_001 is assigned twice (the first is run)",
    ]
    assert src.active() == ["SENSOR_001"]


def test_sensors_describe_what_runs(clock: ManualClock) -> None:
    src = AssignedSource(clock=clock)
    placed = sim(3).model_copy(update={"latitude": 48.1, "longitude": 11.6})
    src.apply([placed, sim(9)])
    infos = {s.sensor_id: s for s in src.sensors}
    assert (infos["SENSOR_003"].latitude, infos["SENSOR_003"].longitude) == (48.1, 11.6)
    model = SensorClockStream(sim(9).source, "SENSOR_009").info  # type: ignore[arg-type]
    assert (infos["SENSOR_009"].latitude, infos["SENSOR_009"].longitude) == (
        model.latitude,
        model.longitude,
    )
    assert {s.sensor_type for s in infos.values()} == {"industrial"}
