"""balance: fair shares by water-filling, and the band [t / 1.25, 1.25 t] around them."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.coordinator.fleet.assignment import AgentSpec, SensorSpec
from edgewatch.coordinator.fleet.assignment.balance import count_bounds
from edgewatch.coordinator.fleet.assignment.eligibility import RANK, admit
from edgewatch.coordinator.fleet.assignment.least_loaded import weighted_bounds
from tests.coordinator.fleet.fleets import agents, random_agents, random_sensors, sensors


def _bounds(fleet: list[SensorSpec], crew: list[AgentSpec]):  # type: ignore[no-untyped-def]
    return count_bounds(admit(fleet, crew, {}))


def test_without_restrictions_the_share_is_the_mean_and_the_band_is_1_25() -> None:
    b = _bounds(sensors(300), agents(4))
    assert set(b.target.values()) == {Fraction(75)}
    assert set(b.low.values()) == {60} and set(b.high.values()) == {94}  # 75/1.25, ceil(93.75)


def test_a_tier_whose_forced_demand_outgrows_the_mean_fills_higher() -> None:
    fleet = sensors(12, medium_every=1)[:10] + sensors(2, prefix="r")
    crew = [AgentSpec("lo", "low"), AgentSpec("mid", "medium")]
    b = _bounds(fleet, crew)
    assert b.target == {"lo": 2, "mid": 10}  # mid alone may take the 10 model sensors
    assert (b.low["mid"], b.high["mid"]) == (8, 12)  # ceil(12.5), but 12 sensors in all


def test_capacity_and_pins_set_their_agents_shares() -> None:
    crew = [AgentSpec("a", "low", capacity=2), AgentSpec("b", "low"), AgentSpec("c", "low")]
    assert _bounds(sensors(12), crew).target == {"a": 2, "b": 5, "c": 5}
    pinned = [
        SensorSpec(s.sensor_id, "x", None, None, "low", "a" if i < 8 else None)
        for i, s in enumerate(sensors(12))
    ]
    b = _bounds(pinned, [AgentSpec("a", "low"), AgentSpec("b", "low"), AgentSpec("c", "low")])
    assert b.target == {"a": 8, "b": 2, "c": 2}
    assert (b.low["a"], b.high["a"]) == (8, 10)  # pins are load; the floor never below them


@settings(max_examples=80, deadline=None)
@given(fleet=random_sensors(), crew=random_agents())
def test_shares_are_a_feasible_even_split(fleet: list[SensorSpec], crew: list[AgentSpec]) -> None:
    adm = admit(fleet, crew, {})
    for b in (count_bounds(adm), weighted_bounds(adm)):
        placed = len(adm.free) + len(adm.pinned)
        assert sum(b.target.values()) == placed
        for a in adm.agents:
            t = b.target[a.agent_id]
            assert adm.pins[a.agent_id] <= t and (a.capacity is None or t <= a.capacity)
            assert b.low[a.agent_id] <= t <= b.high[a.agent_id]
        for rank in range(3):  # each tier suffix holds at least what only it may take
            suffix = [a for a in adm.agents if RANK[a.tier] >= rank]
            forced = sum(1 for s in adm.free if RANK[s.required_tier] >= rank)
            forced += sum(adm.pins[a.agent_id] for a in suffix)
            assert sum(b.target[a.agent_id] for a in suffix) >= forced
    counted, weighted = count_bounds(adm), weighted_bounds(adm)
    assert all(weighted.high[a] <= counted.high[a] for a in counted.high)


@settings(max_examples=80, deadline=None)
@given(
    fleet=random_sensors(pins=False),
    crew=random_agents(tiers=False),
    tiers=st.lists(st.sampled_from(["low", "medium", "high"]), min_size=5, max_size=5),
)
def test_without_caps_or_pins_the_largest_share_is_the_densest_tier(
    fleet: list[SensorSpec], crew: list[AgentSpec], tiers: list[str]
) -> None:
    crew = [AgentSpec(a.agent_id, tiers[i]) for i, a in enumerate(crew)]  # type: ignore[arg-type]
    adm = admit(fleet, crew, {})
    densest = max(
        (
            Fraction(sum(1 for s in adm.free if RANK[s.required_tier] >= r), len(suffix))
            for r in range(3)
            if (suffix := [a for a in crew if RANK[a.tier] >= r])
        ),
        default=Fraction(0),
    )
    assert max(count_bounds(adm).target.values()) == densest
