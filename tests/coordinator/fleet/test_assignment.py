"""The assignment contract, one suite run against every strategy in ``STRATEGIES``.

Whatever it optimises, a strategy must: place every sensor some agent can take, and say
why for the others; place only on present agents whose tier is enough, never above a
capacity; follow pins that can be followed, and say why for those that cannot; stay
within its own ``bounds``; answer the same for the same fleet, whatever the order of the
inputs and the process's hash seed; and move nothing when asked again from its own
answer. The sticky strategies move only a lost agent's sensors on a loss, and never
more than 1.1 x the fewest moves (``fewest_moves``) on any join or loss. A new strategy
joins ``STRATEGIES`` and must pass all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import astuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewatch.coordinator.fleet.assignment import (
    STRATEGIES,
    AgentSpec,
    AssignmentStrategy,
    SensorSpec,
    fewest_moves,
    make_strategy,
)
from tests.coordinator.fleet.fleets import (
    agents,
    ceiling,
    moved,
    problems,
    random_agents,
    random_sensors,
    sensors,
)

NAMES = sorted(STRATEGIES)
STICKY = ("consistent_hash", "least_loaded")
BALANCED = tuple(n for n in NAMES if n != "geo_proximity")
FLEET = sensors(40, medium_every=4)  # s000, s004, ... need a model
CREW = [
    AgentSpec("a1", "low", 52.52, 13.40, cpu_percent=30, memory_percent=40),
    AgentSpec("a2", "medium", 48.86, 2.35, cpu_percent=50, memory_percent=50),
    AgentSpec("a3", "high", 40.42, -3.70, cpu_percent=20, memory_percent=30),
    AgentSpec("a4", "medium", 45.76, 4.84, cpu_percent=40, memory_percent=40),
]
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=NAMES)
def strategy(request: pytest.FixtureRequest) -> AssignmentStrategy:
    return make_strategy(request.param)


def test_every_sensor_is_placed_or_unassigned_with_a_reason(strategy: AssignmentStrategy) -> None:
    low_only = [a for a in CREW if a.tier == "low"]
    result = strategy.assign(FLEET, low_only, {})
    assert problems(result, FLEET, low_only) == []
    needing = {s.sensor_id for s in FLEET if s.required_tier == "medium"}
    assert set(result.unassigned) == needing
    assert set(result.unassigned.values()) == {"no agent of tier >= medium"}
    assert strategy.assign(FLEET, [], {}).placement == {}


def test_placement_only_on_present_agents_of_enough_tier(strategy: AssignmentStrategy) -> None:
    gone = {s.sensor_id: "a9" for s in FLEET}  # current names an agent that left
    result = strategy.assign(FLEET, CREW, gone)
    assert problems(result, FLEET, CREW) == []
    assert len(result.placement) == len(FLEET) and not result.unassigned
    on_low = {s for s, a in result.placement.items() if a == "a1"}
    assert on_low and all(s not in on_low for s in (f.sensor_id for f in FLEET[::4]))


def test_capacity_is_a_hard_cap_and_the_overflow_says_so(strategy: AssignmentStrategy) -> None:
    capped = [AgentSpec(a.agent_id, a.tier, a.latitude, a.longitude, capacity=5) for a in CREW]
    result = strategy.assign(FLEET, capped, {})
    assert problems(result, FLEET, capped) == []
    assert sorted(result.loads().values()) == [5, 5, 5, 5]
    assert len(result.unassigned) == 20
    assert set(result.unassigned.values()) == {"all eligible agents at capacity"}
    # The 10 model sensors fit on the three medium/high agents, so none is dropped.
    assert not {s.sensor_id for s in FLEET[::4]} & set(result.unassigned)


def test_pins_hold_and_a_pin_to_an_absent_agent_returns_when_it_is_back(
    strategy: AssignmentStrategy,
) -> None:
    pins = {"s001": "a1", "s004": "a3", "s005": "a9", "s008": "a1"}  # s008 needs a model
    fleet = [
        SensorSpec(
            s.sensor_id,
            s.sensor_type,
            s.latitude,
            s.longitude,
            s.required_tier,
            pins.get(s.sensor_id),
        )
        for s in FLEET
    ]
    result = strategy.assign(fleet, CREW, {})
    assert problems(result, fleet, CREW) == []
    assert result.placement["s001"] == "a1" and result.placement["s004"] == "a3"
    assert result.placement["s005"] in {"a1", "a2", "a3", "a4"}
    assert result.placement["s008"] != "a1"
    assert set(result.unhonoured_pins) == {"s005", "s008"}
    assert "not present" in result.unhonoured_pins["s005"]
    assert "low tier" in result.unhonoured_pins["s008"]
    back = [*CREW, AgentSpec("a9", "low", 50.0, 8.0)]
    again = strategy.assign(fleet, back, result.placement)
    assert again.placement["s005"] == "a9" and "s005" not in again.unhonoured_pins


def test_the_assignment_stays_within_the_strategy_bounds(strategy: AssignmentStrategy) -> None:
    result = strategy.assign(FLEET, CREW, {})
    assert strategy.bounds(FLEET, CREW).problems(result.loads()) == []


def test_same_fleet_same_answer_whatever_the_order(strategy: AssignmentStrategy) -> None:
    first = strategy.assign(FLEET, CREW, {})
    current = dict(reversed(list(first.placement.items())))
    fleet = [*FLEET[1:], SensorSpec("s999", "medical", 47.0, 7.0, "high")]
    forward = strategy.assign(fleet, CREW, current)
    backward = strategy.assign(fleet[::-1], CREW[::-1], dict(reversed(list(current.items()))))
    assert forward == backward


def test_assigning_again_from_the_result_moves_nothing(strategy: AssignmentStrategy) -> None:
    result = strategy.assign(FLEET, CREW, {})
    assert strategy.assign(FLEET, CREW, result.placement) == result


def test_answers_do_not_depend_on_the_process_hash_seed() -> None:
    # Python salts str hashes per process: a set or hash() leaking into a decision would
    # show here as two different answers.
    code = (
        "import json, sys\n"
        "from edgewatch.coordinator.fleet.assignment import *\n"
        "fleet, crew = json.load(sys.stdin)\n"
        "fleet = [SensorSpec(*s) for s in fleet]\n"
        "crew = [AgentSpec(*a) for a in crew]\n"
        "print(json.dumps({n: dict(make_strategy(n).assign(fleet, crew, {}).placement)"
        " for n in strategy_names()}))\n"
    )
    given = json.dumps([[astuple(s) for s in FLEET], [astuple(a) for a in CREW]])
    answers = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=given,
            text=True,
            env=env,
            capture_output=True,
            check=True,
        )
        answers.append(json.loads(out.stdout))
    assert answers[0] == answers[1]
    assert set(answers[0]) == set(NAMES) and all(len(p) == len(FLEET) for p in answers[0].values())


@pytest.mark.parametrize("name", [*STICKY, "geo_proximity"])
def test_on_a_loss_only_the_lost_agents_sensors_move(name: str) -> None:
    strategy = make_strategy(name)
    fleet = sensors(60)
    crew = agents(4)
    before = strategy.assign(fleet, crew, {})
    after = strategy.assign(fleet, crew[:2] + crew[3:], before.placement)
    lost = {s for s, a in before.placement.items() if a == "a3"}
    assert lost and moved(before.placement, after.placement) == lost


@pytest.mark.parametrize("name", STICKY)
def test_a_join_moves_the_fewest_sensors_and_feeds_the_newcomer(name: str) -> None:
    strategy = make_strategy(name)
    fleet, crew = sensors(90), agents(3, cpu_percent=30, memory_percent=30)
    before = strategy.assign(fleet, crew, {})
    joined = [*crew, AgentSpec("a9", "medium", 50.0, 5.0, cpu_percent=30, memory_percent=30)]
    after = strategy.assign(fleet, joined, before.placement)
    optimal = fewest_moves(fleet, joined, before.placement, strategy.bounds(fleet, joined))
    assert after.moves_from(before.placement) == optimal
    # Equal figures: fair share 22.5, so the newcomer gets at least floor(22.5 / 1.25).
    assert after.loads()["a9"] == optimal == 18
    assert moved(before.placement, after.placement) == {
        s for s, a in after.placement.items() if a == "a9"
    }


# Property tests: random fleets (tiers, capacities, pins, places, heartbeats).


@QUICK
@given(fleet=random_sensors(), crew=random_agents(), name=st.sampled_from(NAMES))
def test_any_fleet_is_placed_within_contract_and_bounds(
    fleet: list[SensorSpec], crew: list[AgentSpec], name: str
) -> None:
    strategy = make_strategy(name)
    result = strategy.assign(fleet, crew, {})
    assert problems(result, fleet, crew) == []
    assert strategy.bounds(fleet, crew).problems(result.loads()) == []
    by_id = {a.agent_id: a for a in crew}
    assert all(result.unhonoured_pins.values())
    for sensor in fleet:
        if sensor.pinned_to is None:
            assert sensor.sensor_id not in result.unhonoured_pins
        elif sensor.pinned_to not in by_id:
            assert sensor.sensor_id in result.unhonoured_pins
        elif sensor.sensor_id not in result.unhonoured_pins:
            assert result.placement[sensor.sensor_id] == sensor.pinned_to
    assert strategy.assign(fleet, crew, result.placement) == result


@QUICK
@given(
    fleet=random_sensors(tiers=False, pins=False),
    crew=random_agents(tiers=False),
    name=st.sampled_from(BALANCED),
)
def test_no_agent_above_ceil_125_mean_when_nothing_restricts(
    fleet: list[SensorSpec], crew: list[AgentSpec], name: str
) -> None:
    result = make_strategy(name).assign(fleet, crew, {})
    assert len(result.placement) == len(fleet)
    assert max(result.loads().values(), default=0) <= ceiling(len(fleet), len(crew))


@QUICK
@given(
    fleet=random_sensors(),
    crew=random_agents(),
    joiner=random_agents(max_agents=1),
    lose=st.integers(0, 4),
    name=st.sampled_from(STICKY),
)
def test_joins_and_losses_move_at_most_1_1_times_the_fewest(
    fleet: list[SensorSpec],
    crew: list[AgentSpec],
    joiner: list[AgentSpec],
    lose: int,
    name: str,
) -> None:
    strategy = make_strategy(name)
    newcomer = AgentSpec("a7", *_figures(joiner[0]))
    start = strategy.assign(fleet, crew, {})
    for after in ([*crew, newcomer], [a for i, a in enumerate(crew) if i != lose % len(crew)]):
        result = strategy.assign(fleet, after, start.placement)
        assert problems(result, fleet, after) == []
        optimal = fewest_moves(fleet, after, start.placement, strategy.bounds(fleet, after))
        assert result.moves_from(start.placement) <= 1.1 * optimal


def _figures(agent: AgentSpec) -> tuple[object, ...]:
    return (
        agent.tier,
        agent.latitude,
        agent.longitude,
        agent.capacity,
        agent.cpu_percent,
        agent.memory_percent,
        agent.battery_percent,
        agent.outbox_rows,
    )
