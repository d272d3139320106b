"""Fleets for the assignment tests: fixed ones, hypothesis strategies, and the checks
every assignment must pass whatever the strategy."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from edgewatch.coordinator.fleet.assignment import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import RANK

TIERS = ("low", "medium", "high")


def sensors(n: int, *, medium_every: int = 0, prefix: str = "s") -> list[SensorSpec]:
    """``n`` sensors on a grid over Europe; every ``medium_every``-th one needs a model."""
    return [
        SensorSpec(
            f"{prefix}{i:03d}",
            "industrial",
            40.0 + (i * 7) % 15,
            -5.0 + (i * 11) % 25,
            "medium" if medium_every and i % medium_every == 0 else "low",
        )
        for i in range(n)
    ]


def agents(n: int, tier: str = "medium", **figures: float) -> list[AgentSpec]:
    return [
        AgentSpec(f"a{i}", tier, 45.0 + i, 2.0 * i, **figures)  # type: ignore[arg-type]
        for i in range(1, n + 1)
    ]


def problems(
    result: Assignment, fleet: Sequence[SensorSpec], crew: Sequence[AgentSpec]
) -> list[str]:
    """What breaks the contract in ``result`` (empty: nothing)."""
    out = []
    by_id = {a.agent_id: a for a in crew}
    ids = {s.sensor_id for s in fleet}
    if set(result.placement) & set(result.unassigned):
        out.append("a sensor both placed and unassigned")
    if set(result.placement) | set(result.unassigned) != ids:
        out.append("sensors lost or invented")
    out += [f"{s}: no reason" for s, why in result.unassigned.items() if not why]
    for sensor in fleet:
        agent = by_id.get(result.placement.get(sensor.sensor_id, ""))
        if sensor.sensor_id in result.placement and agent is None:
            out.append(f"{sensor.sensor_id}: placed on an absent agent")
        elif agent is not None and RANK[agent.tier] < RANK[sensor.required_tier]:
            out.append(f"{sensor.sensor_id}: {sensor.required_tier} sensor on {agent.tier} agent")
    loads = result.loads()
    for agent in crew:
        if agent.capacity is not None and loads.get(agent.agent_id, 0) > agent.capacity:
            out.append(f"{agent.agent_id}: over capacity")
    return out


def moved(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    return {s for s, a in after.items() if s in before and before[s] != a}


def ceiling(placed: int, agent_count: int) -> int:
    """The issue's bound, ceil(1.25 x mean), for a fleet without tiers, caps or pins."""
    return math.ceil(1.25 * placed / agent_count)


# Few, coarse choices per field keep hypothesis fast; places include None (no coordinates).
PLACES = (
    None,
    (52.5, 13.4),
    (48.9, 2.4),
    (40.4, -3.7),
    (-33.9, 151.2),
    (0.0, 179.0),
    (0.0, -179.0),
)
PERCENT = (None, 0.0, 35.0, 70.0, 100.0)


def random_agents(max_agents: int = 5, tiers: bool = True) -> st.SearchStrategy[list[AgentSpec]]:
    """1..max_agents agents a0, a1, ...; with ``tiers=False`` all high and uncapped."""
    one = st.tuples(
        st.sampled_from(TIERS) if tiers else st.just("high"),
        st.sampled_from(PLACES),
        st.sampled_from((None, 0, 1, 3, 12)) if tiers else st.none(),
        st.sampled_from(PERCENT),
        st.sampled_from(PERCENT),
        st.sampled_from(PERCENT),
        st.sampled_from((0, 500, 100_000)),
    )

    def build(rows: list[tuple[Any, ...]]) -> list[AgentSpec]:
        return [
            AgentSpec(f"a{i}", tier, *(place or (None, None)), cap, cpu, mem, battery, rows_)
            for i, (tier, place, cap, cpu, mem, battery, rows_) in enumerate(rows)
        ]

    return st.lists(one, min_size=1, max_size=max_agents).map(build)


def random_sensors(
    max_sensors: int = 24, tiers: bool = True, pins: bool = True
) -> st.SearchStrategy[list[SensorSpec]]:
    """0..max_sensors sensors s00, s01, ...; pins name a0, a1 or the absent a9."""
    one = st.tuples(
        st.sampled_from(TIERS) if tiers else st.just("low"),
        st.sampled_from((None, None, None, "a0", "a1", "a9")) if pins else st.none(),
        st.sampled_from(PLACES),
    )

    def build(rows: list[tuple[Any, ...]]) -> list[SensorSpec]:
        return [
            SensorSpec(f"s{i:02d}", "industrial", *(place or (None, None)), tier, pin)
            for i, (tier, pin, place) in enumerate(rows)
        ]

    return st.lists(one, max_size=max_sensors).map(build)
