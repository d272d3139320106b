"""eligibility: tiers, pins and capacity, before any strategy chooses."""

from __future__ import annotations

import pytest

from edgewatch.coordinator.fleet.assignment import AgentSpec, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import admit, can_take


def _sensor(sensor_id: str, tier: str = "low", pin: str | None = None) -> SensorSpec:
    return SensorSpec(sensor_id, "x", None, None, tier, pin)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("agent", "sensor", "ok"),
    [
        ("low", "low", True),
        ("low", "medium", False),
        ("medium", "medium", True),
        ("medium", "high", False),
        ("high", "low", True),
        ("high", "high", True),
    ],
)
def test_an_agent_takes_sensors_up_to_its_tier(agent: str, sensor: str, ok: bool) -> None:
    assert can_take(AgentSpec("a", agent), _sensor("s", sensor)) is ok  # type: ignore[arg-type]


def test_pins_are_honoured_in_id_order_up_to_capacity() -> None:
    fleet = [_sensor("s2", pin="a"), _sensor("s1", pin="a"), _sensor("s3", pin="b")]
    adm = admit(fleet, [AgentSpec("a", "low", capacity=1), AgentSpec("b", "medium")], {})
    assert adm.pinned == {"s1": "a", "s3": "b"}
    assert adm.unhonoured_pins == {"s2": "pinned agent 'a' is at capacity"}
    assert [s.sensor_id for s in adm.free] == ["s2"] and adm.pins == {"a": 1, "b": 1}


def test_overflow_keeps_the_sensors_already_well_placed() -> None:
    fleet = [_sensor("s1"), _sensor("s2"), _sensor("s3"), _sensor("m1", "medium")]
    adm = admit(fleet, [AgentSpec("a", "medium", capacity=2)], {"s3": "a", "s1": "gone"})
    # The model sensor goes first (most restricted), then s3 (already on a), not s1/s2.
    assert [s.sensor_id for s in adm.free] == ["m1", "s3"]
    assert adm.unassigned == dict.fromkeys(["s1", "s2"], "all eligible agents at capacity")


def test_a_tier_nobody_has_is_named() -> None:
    adm = admit([_sensor("h", "high"), _sensor("l")], [AgentSpec("a", "medium")], {})
    assert adm.unassigned == {"h": "no agent of tier >= high"}


@pytest.mark.parametrize(
    ("fleet", "crew"),
    [
        ([_sensor("s"), _sensor("s")], [AgentSpec("a", "low")]),
        ([_sensor("s")], [AgentSpec("a", "low"), AgentSpec("a", "high")]),
        ([_sensor("s")], [AgentSpec("a", "low", capacity=-1)]),
    ],
    ids=["duplicate sensor", "duplicate agent", "negative capacity"],
)
def test_caller_bugs_are_refused(fleet: list[SensorSpec], crew: list[AgentSpec]) -> None:
    with pytest.raises(ValueError):
        admit(fleet, crew, {})
