"""plan and flow: ``fewest_moves`` is the true minimum (checked by brute force)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.coordinator.fleet.assignment import AgentSpec, SensorSpec, fewest_moves
from edgewatch.coordinator.fleet.assignment.balance import Bounds, count_bounds
from edgewatch.coordinator.fleet.assignment.eligibility import admit, can_take
from edgewatch.coordinator.fleet.assignment.flow import FlowNetwork
from tests.coordinator.fleet.fleets import random_agents, random_sensors


def brute_force_moves(
    fleet: list[SensorSpec], crew: list[AgentSpec], current: dict[str, str], bounds: Bounds
) -> int | None:
    """Try every placement of the admitted sensors; None if none fits the bounds."""
    adm = admit(fleet, crew, current)
    choices = [[a.agent_id for a in crew if can_take(a, s)] for s in adm.free]
    best = None
    for picks in itertools.product(*choices):
        placement = dict(zip((s.sensor_id for s in adm.free), picks, strict=True))
        placement.update(adm.pinned)
        loads = {a.agent_id: 0 for a in crew}
        for agent_id in placement.values():
            loads[agent_id] += 1
        if bounds.problems(loads):
            continue
        moves = sum(1 for s, a in placement.items() if s in current and current[s] != a)
        best = moves if best is None else min(best, moves)
    return best


@settings(max_examples=120, deadline=None)
@given(
    fleet=random_sensors(max_sensors=6),
    crew=random_agents(max_agents=3),
    homes=st.lists(st.sampled_from(["a0", "a1", "a2", "a9", None]), min_size=6, max_size=6),
)
def test_fewest_moves_is_the_minimum(
    fleet: list[SensorSpec], crew: list[AgentSpec], homes: list[str | None]
) -> None:
    current = {s.sensor_id: h for s, h in zip(fleet, homes, strict=False) if h is not None}
    bounds = count_bounds(admit(fleet, crew, {}))
    expected = brute_force_moves(fleet, crew, current, bounds)
    assert expected is not None  # the band is always reachable
    assert fewest_moves(fleet, crew, current, bounds) == expected


def test_min_cost_flow_prefers_the_cheap_path_and_fills_a_convex_edge_evenly() -> None:
    net = FlowNetwork(4)
    cheap = net.add_edge(0, 1, 3, cost=1)
    dear = net.add_edge(0, 2, 3, cost=5)
    net.add_edge(1, 3, 2)
    net.add_edge(2, 3, 5)
    assert net.solve(0, 3) == 5
    assert (net.flow(cheap), net.flow(dear)) == (2, 3)
    # Two convex sinks of cost k per k-th unit: 6 units split 3 and 3.
    net = FlowNetwork(3)
    net.add_edge(0, 1, 6)
    left = net.add_convex(1, 2, 6, lambda k: k)
    right = net.add_convex(1, 2, 6, lambda k: k)
    assert net.solve(0, 2) == 6 and (net.flow(left), net.flow(right)) == (3, 3)


def test_a_forced_low_end_is_met_even_at_a_price() -> None:
    # Two agents, all sensors on a1; the band forces a2 up to its low end.
    fleet = [SensorSpec(f"s{i}", "x", None, None) for i in range(10)]
    crew = [AgentSpec("a1", "low"), AgentSpec("a2", "low")]
    current = {s.sensor_id: "a1" for s in fleet}
    bounds = Bounds({"a1": 5, "a2": 5}, {"a1": 0, "a2": 4}, {"a1": 10, "a2": 10})  # type: ignore[dict-item]
    assert fewest_moves(fleet, crew, current, bounds) == 4
