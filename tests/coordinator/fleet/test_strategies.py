"""What each strategy promises beyond the contract (``test_assignment``)."""

from __future__ import annotations

import doctest
import math
from types import ModuleType

import pytest
from hypothesis import given, settings

from edgewatch.coordinator.fleet.assignment import (
    AgentSpec,
    SensorSpec,
    fewest_moves,
    geo_proximity,
    make_strategy,
    registry,
    strategy_names,
)
from edgewatch.coordinator.fleet.assignment.consistent_hash import weight
from edgewatch.coordinator.fleet.assignment.eligibility import can_take
from edgewatch.coordinator.fleet.assignment.geo_proximity import haversine_km
from edgewatch.coordinator.fleet.assignment.least_loaded import heartbeat_score
from tests.coordinator.fleet.fleets import (
    agents,
    ceiling,
    moved,
    random_agents,
    random_sensors,
    sensors,
)

BERLIN, PARIS, MADRID = (52.5200, 13.4050), (48.8566, 2.3522), (40.4168, -3.7038)
CITIES = [
    AgentSpec("berlin", "low", *BERLIN),
    AgentSpec("paris", "medium", *PARIS),
    AgentSpec("madrid", "high", *MADRID),
]


def _at(sensor_id: str, lat: float, lon: float, tier: str = "low") -> SensorSpec:
    return SensorSpec(sensor_id, "environmental", lat, lon, tier)  # type: ignore[arg-type]


# geo_proximity


def test_haversine_of_berlin_to_paris_by_hand() -> None:
    # dphi = 48.8566 - 52.52 = -3.6634 deg, dlambda = 2.3522 - 13.405 = -11.0528 deg
    # h = sin^2(dphi/2) + cos(52.52) cos(48.8566) sin^2(dlambda/2)
    #   = 0.0010217 + 0.60859 * 0.65783 * 0.0092745 = 0.0047347
    # d = 2 * 6371.0088 * asin(sqrt(h)) = 2 * 6371.0088 * 0.068864 = 877.46 km
    assert haversine_km(*BERLIN, *PARIS) == pytest.approx(877.46, abs=0.01)
    assert haversine_km(*PARIS, *MADRID) == pytest.approx(1052.89, abs=0.01)
    assert haversine_km(*BERLIN, *MADRID) == pytest.approx(1869.15, abs=0.01)
    assert haversine_km(*PARIS, *PARIS) == 0.0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)


def test_geo_takes_the_nearest_by_great_circle_not_by_degrees() -> None:
    # Groningen: 465 km from Berlin, 567 km from Paris; in raw degrees Paris is nearer
    # (6.07 vs 6.87), because a degree of longitude up there is only 67 km.
    fleet = [_at("groningen", 53.2194, 6.5665), _at("lyon", 45.7640, 4.8357)]
    fleet.append(_at("seville", 37.3891, -5.9845))
    result = make_strategy("geo_proximity").assign(fleet, CITIES, {})
    assert result.placement == {"groningen": "berlin", "lyon": "paris", "seville": "madrid"}


def test_geo_skips_a_nearer_agent_of_too_low_a_tier_or_without_room() -> None:
    crew = [*CITIES[:2], AgentSpec("madrid", "high", *MADRID, capacity=1)]
    fleet = [_at("potsdam", 52.39, 13.06, "medium"), _at("seville", 37.39, -5.98)]
    fleet.append(_at("toledo", 39.86, -4.02))  # nearer Madrid than Seville is: takes its room
    result = make_strategy("geo_proximity").assign(fleet, crew, {})
    assert result.placement == {"potsdam": "paris", "toledo": "madrid", "seville": "paris"}


def test_geo_places_sensors_and_agents_without_coordinates_sensibly() -> None:
    crew = [*CITIES, AgentSpec("nowhere", "high")]
    fleet = [_at("lyon", 45.76, 4.84), *(SensorSpec(f"u{i}", "x", None, None) for i in range(4))]
    first = make_strategy("geo_proximity").assign(fleet, crew, {})
    assert first.placement["lyon"] == "paris"  # a placeless agent is a last resort
    # Placeless sensors spread over the emptiest agents (Paris holds Lyon), then stay put.
    placeless = [first.placement[f"u{i}"] for i in range(4)]
    assert placeless == ["berlin", "madrid", "nowhere", "berlin"]
    grown = [*crew, AgentSpec("lisbon", "high", 38.72, -9.14)]
    assert (
        make_strategy("geo_proximity")
        .assign(fleet, grown, first.placement)
        .moves_from(first.placement)
        == 0
    )


def test_geo_moves_to_a_nearer_joiner_only_the_sensors_it_is_nearest_to() -> None:
    fleet = [_at("lyon", 45.76, 4.84), _at("seville", 37.39, -5.98), _at("porto", 41.15, -8.61)]
    strategy = make_strategy("geo_proximity")
    before = strategy.assign(fleet, CITIES, {})
    after = strategy.assign(
        fleet, [*CITIES, AgentSpec("lisbon", "high", 38.72, -9.14)], before.placement
    )
    assert moved(before.placement, after.placement) == {"seville", "porto"}


# consistent_hash


def test_rendezvous_weights_are_stable_across_processes_and_releases() -> None:
    # A changed hash would reshuffle every fleet on upgrade: these values are fixed.
    assert weight("s001", "a1") == 2089913596821402913
    assert weight("s001", "a2") == 1392471229637986003


def test_consistent_hash_from_scratch_follows_the_weights_within_the_bound() -> None:
    fleet, crew = sensors(120), agents(4)
    result = make_strategy("consistent_hash").assign(fleet, crew, {})
    assert max(result.loads().values()) <= ceiling(120, 4)
    top = {
        s.sensor_id: max(crew, key=lambda a: weight(s.sensor_id, a.agent_id)).agent_id
        for s in fleet
    }
    on_top = sum(1 for s, a in result.placement.items() if top[s] == a)
    assert on_top >= 0.8 * len(fleet)  # only the bound sends a sensor elsewhere


def test_consistent_hash_join_moves_at_most_1_1_times_the_fewest() -> None:
    strategy = make_strategy("consistent_hash")
    fleet, crew = sensors(300), agents(3)
    before = strategy.assign(fleet, crew, {})
    joined = [*crew, AgentSpec("a4", "medium", 50.0, 8.0)]
    after = strategy.assign(fleet, joined, before.placement)
    optimal = fewest_moves(fleet, joined, before.placement, strategy.bounds(fleet, joined))
    assert optimal == 60  # the newcomer must reach floor(75 / 1.25)
    assert after.moves_from(before.placement) <= 1.1 * optimal
    assert max(after.loads().values()) <= ceiling(300, 4)
    # The movers are those weighing the newcomer most among what each agent shed.
    for sensor_id in moved(before.placement, after.placement):
        assert after.placement[sensor_id] == "a4"


def test_consistent_hash_a_new_sensor_moves_no_other() -> None:
    strategy = make_strategy("consistent_hash")
    fleet, crew = sensors(40), agents(3)
    before = strategy.assign(fleet, crew, {})
    after = strategy.assign([*fleet, _at("new", 47.0, 7.0)], crew, before.placement)
    assert after.moves_from(before.placement) == 0 and "new" in after.placement


# least_loaded


def test_the_notebook_score_plus_backlog() -> None:
    busy = AgentSpec("b", "medium", cpu_percent=80, memory_percent=60, battery_percent=20)
    assert heartbeat_score(busy) == pytest.approx(80 + 60 + 80 * 0.5)
    mains = AgentSpec("m", "medium", cpu_percent=10, memory_percent=20)
    assert heartbeat_score(mains) == pytest.approx(30)  # no battery figure: mains, 0 points
    backlog = AgentSpec("o", "medium", cpu_percent=10, memory_percent=20, outbox_rows=9_900)
    assert heartbeat_score(backlog) == pytest.approx(30 + 50)  # two tenfolds of 100 rows
    assert heartbeat_score(AgentSpec("u", "medium")) == pytest.approx(100)  # unknown: 50 + 50


def test_a_loaded_agent_gets_fewer_sensors_but_the_bound_still_holds() -> None:
    crew = [
        AgentSpec("idle", "medium", cpu_percent=10, memory_percent=20),
        AgentSpec("calm", "medium", cpu_percent=20, memory_percent=30),
        AgentSpec(
            "busy",
            "medium",
            cpu_percent=90,
            memory_percent=80,
            battery_percent=15,
            outbox_rows=50_000,
        ),
    ]
    loads = make_strategy("least_loaded").assign(sensors(120), crew, {}).loads()
    assert loads["busy"] < loads["calm"] <= loads["idle"] <= ceiling(120, 3)
    assert loads["busy"] <= 20 and sum(loads.values()) == 120


def test_heartbeat_noise_inside_the_band_moves_nothing() -> None:
    strategy = make_strategy("least_loaded")
    fleet = sensors(90)
    crew = agents(3, cpu_percent=40, memory_percent=40)
    before = strategy.assign(fleet, crew, {})
    noisy = [
        AgentSpec(a.agent_id, a.tier, cpu_percent=40 + 8 * i, memory_percent=35)
        for i, a in enumerate(crew)
    ]
    assert strategy.assign(fleet, noisy, before.placement).moves_from(before.placement) == 0
    # A real overload does move sensors off the overloaded agent, and only those.
    hot = [
        *noisy[:2],
        AgentSpec("a3", "medium", cpu_percent=99, memory_percent=95, battery_percent=5),
    ]
    after = strategy.assign(fleet, hot, before.placement)
    assert after.loads()["a3"] < before.loads()["a3"]
    assert all(before.placement[s] == "a3" for s in moved(before.placement, after.placement))


# round_robin


def test_round_robin_deals_in_turn_and_reshuffles_on_a_join() -> None:
    strategy = make_strategy("round_robin")
    fleet, crew = sensors(7), agents(3)
    before = strategy.assign(fleet, crew, {})
    assert [before.placement[s.sensor_id] for s in fleet] == [
        "a1",
        "a2",
        "a3",
        "a1",
        "a2",
        "a3",
        "a1",
    ]
    after = strategy.assign(fleet, agents(4), before.placement)
    assert [after.placement[s.sensor_id] for s in fleet] == [
        "a1",
        "a2",
        "a3",
        "a4",
        "a1",
        "a2",
        "a3",
    ]


def test_the_registry_names_every_strategy_and_refuses_others() -> None:
    assert strategy_names() == ("consistent_hash", "geo_proximity", "least_loaded", "round_robin")
    assert all(make_strategy(n).name == n for n in strategy_names())
    with pytest.raises(ValueError, match="one of consistent_hash, geo_proximity"):
        make_strategy("random")


@settings(max_examples=60, deadline=None)
@given(fleet=random_sensors(pins=False), crew=random_agents())
def test_geo_matches_taking_all_pairs_in_ascending_distance(
    fleet: list[SensorSpec], crew: list[AgentSpec]
) -> None:
    fleet = [s for s in fleet if s.latitude is not None]
    crew = [a for a in crew if a.latitude is not None]
    result = make_strategy("geo_proximity").assign(fleet, crew, {})
    room = {a.agent_id: a.capacity for a in crew}
    expected: dict[str, str] = {}
    for tier in ("high", "medium", "low"):  # the reference: sort every pair, take greedily
        pairs = sorted(
            (
                haversine_km(s.latitude, s.longitude, a.latitude, a.longitude),
                s.sensor_id,
                a.agent_id,
            )  # type: ignore[arg-type]
            for s in fleet
            if s.required_tier == tier and s.sensor_id in result.placement
            for a in crew
            if can_take(a, s)
        )
        for _, sensor_id, agent_id in pairs:
            spare = room[agent_id]
            if sensor_id not in expected and (spare is None or spare > 0):
                expected[sensor_id] = agent_id
                room[agent_id] = None if spare is None else spare - 1
    assert result.placement == expected


@pytest.mark.parametrize("module", [geo_proximity, registry], ids=lambda m: m.__name__)
def test_the_docstring_examples_hold(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module)
    assert attempted and not failed
