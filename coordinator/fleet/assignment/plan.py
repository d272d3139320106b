"""Sticky rebalancing: keep every sensor that may stay, move the fewest that must.

The loads come from one min-cost flow, the sensors from the strategy. Free sensors are
grouped by (required tier, valid home): the agent ``current`` puts them on, if it is
present and may take them, else none (new sensors, and those of a lost agent). A group
can stay home at no cost or go through its tier's hub, at the cost of one move, to any
agent that may take it; every agent's edge to the sink carries its band
(``balance.Bounds``): the units up to its low end are forced by a cost no saving can
repay, the rest are priced by how far they push the agent past its fair share. The
costs are lexicographic: the band holds first, then the fewest moves, then the loads
nearest the fair shares (so a join is fed by every agent, not the first one found).

The strategy then says which sensors of a group stay (``KeepOrder``) and which agent
each mover goes to within the arrivals the flow set per tier (``Place``). The count of
moves is the minimum whatever it picks, and ``fewest_moves`` is the same flow without
the third objective: the figure the strategies are measured against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edgewatch.coordinator.fleet.assignment.balance import Bounds
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import (
    RANK,
    TIERS,
    Admission,
    admit,
    valid_home,
)
from edgewatch.coordinator.fleet.assignment.flow import FlowNetwork

# agent id, its sensors of one tier that may stay -> the same sensors, best kept first
KeepOrder = Callable[[str, Sequence[SensorSpec]], list[SensorSpec]]
# movers of one tier, arrivals per agent id (summing to len(movers)) -> sensor -> agent
Place = Callable[[Sequence[SensorSpec], Mapping[str, int]], dict[str, str]]
_SCALE = 64  # resolution of the balance cost (it compares fractional fair shares)

Group = tuple[int, str | None]  # (tier rank, valid home or None)


@dataclass(frozen=True, slots=True)
class Loads:
    """What the flow decided: how many of each group stay, how many arrive where."""

    stays: Mapping[Group, int]
    arrivals: Mapping[int, Mapping[str, int]]  # tier rank -> agent id -> movers arriving


def groups(admission: Admission, current: Mapping[str, str]) -> dict[Group, list[SensorSpec]]:
    """Free sensors by (tier rank, valid home), in id order."""
    agents = {a.agent_id: a for a in admission.agents}
    out: dict[Group, list[SensorSpec]] = {}
    for sensor in admission.free:
        key = (RANK[sensor.required_tier], valid_home(sensor, agents, current))
        out.setdefault(key, []).append(sensor)
    return out


def solve_loads(
    admission: Admission, by_group: Mapping[Group, int], bounds: Bounds, *, balance: bool
) -> Loads:
    """The flow: band first, fewest moves next, then (if ``balance``) nearest fair shares."""
    agents = [a.agent_id for a in admission.agents]
    node = {agent_id: 2 + i for i, agent_id in enumerate(agents)}
    hub = {rank: 2 + len(agents) + rank for rank in range(len(TIERS))}
    keys = sorted(by_group, key=lambda k: (k[0], k[1] or ""))
    net = FlowNetwork(2 + len(agents) + len(TIERS) + len(keys))
    placed = sum(by_group.values()) + len(admission.pinned)
    spread = 2 * _SCALE * 4 * (placed + 1) ** 2 if balance else 0  # any two flows' balance gap
    move = spread + 1
    force = move * (placed + 1) + spread + 1
    stay_edge, move_edge = {}, {}
    for i, key in enumerate(keys):
        rank, home = key
        g = 2 + len(agents) + len(TIERS) + i
        net.add_edge(0, g, by_group[key])
        if home is not None:
            stay_edge[key] = net.add_edge(g, node[home], by_group[key])
        move_edge[key] = net.add_edge(g, hub[rank], by_group[key], move if home else 0)
    arrive_edge = {}
    for a in admission.agents:
        for rank in range(RANK[a.tier] + 1):
            arrive_edge[rank, a.agent_id] = net.add_edge(hub[rank], node[a.agent_id], placed)
        _add_sink_edges(
            net, node[a.agent_id], admission.pins[a.agent_id], bounds, a, force, balance
        )
    net.solve(0, 1)
    stays = {key: net.flow(e) for key, e in stay_edge.items()}
    arrivals: dict[int, dict[str, int]] = {}
    for (rank, agent_id), e in arrive_edge.items():
        if net.flow(e):
            arrivals.setdefault(rank, {})[agent_id] = net.flow(e)
    return Loads(stays, arrivals)


def _add_sink_edges(
    net: FlowNetwork,
    tail: int,
    pins: int,
    bounds: Bounds,
    agent: AgentSpec,
    force: int,
    balance: bool,
) -> None:
    low = bounds.low[agent.agent_id] - pins
    high = bounds.high[agent.agent_id] - pins
    # Every feasible flow fills the forced units, so their balance cost is the same in
    # all of them and one plain edge carries them (in big pushes, not unit by unit).
    net.add_edge(tail, 1, low, -force)
    if not balance:
        net.add_edge(tail, 1, high - low, 0)
        return
    base = pins + low
    shift = math.floor(-2 * _SCALE * bounds.target[agent.agent_id])  # floor once, then ints

    def marginal(k: int) -> int:
        # The unit taking the load from L-1 to L adds (L - t)^2 - (L - 1 - t)^2 = 2L - 1 - 2t.
        return _SCALE * (2 * (base + k) - 1) + shift

    net.add_convex(tail, 1, high - low, marginal)


def rebalance(
    admission: Admission,
    current: Mapping[str, str],
    bounds: Bounds,
    *,
    keep_order: KeepOrder,
    place: Place,
    sticky: bool = True,
) -> Assignment:
    """Place ``admission``'s free sensors within ``bounds`` with the fewest moves.

    With ``sticky=False`` nothing counts as home (every sensor is placed afresh).
    """
    by_group = groups(admission, current if sticky else {})
    loads = solve_loads(admission, {k: len(v) for k, v in by_group.items()}, bounds, balance=True)
    placement = dict(admission.pinned)
    movers: dict[int, list[SensorSpec]] = {}
    for (rank, home), members in sorted(
        by_group.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        ordered = keep_order(home, members) if home is not None else list(members)
        kept = loads.stays.get((rank, home), 0)
        placement.update((s.sensor_id, home) for s in ordered[:kept] if home is not None)
        movers.setdefault(rank, []).extend(ordered[kept:])
    for rank, group in movers.items():
        group.sort(key=lambda s: s.sensor_id)
        placement.update(place(group, loads.arrivals.get(rank, {})))
    return Assignment(
        {s: placement[s] for s in sorted(placement)},
        dict(admission.unassigned),
        dict(admission.unhonoured_pins),
    )


def fewest_moves(
    sensors: Sequence[SensorSpec],
    agents: Sequence[AgentSpec],
    current: Mapping[str, str],
    bounds: Bounds,
) -> int:
    """The fewest moves (``Assignment.moves_from(current)``) of any placement of this fleet
    that keeps every agent within ``bounds``, honours the pins and places every sensor
    some agent can take (the same sensors ``admit`` keeps)."""
    admission = admit(sensors, agents, current)
    by_group = groups(admission, current)
    solved = solve_loads(admission, {k: len(v) for k, v in by_group.items()}, bounds, balance=False)
    moved = sum(
        len(members) - solved.stays.get(key, 0) for key, members in by_group.items() if key[1]
    )
    # Free sensors without a valid home move if current placed them at all, and so do
    # pinned sensors current has elsewhere.
    orphans = sum(
        1
        for (_, home), members in by_group.items()
        if home is None
        for s in members
        if s.sensor_id in current
    )
    pins = sum(1 for s, a in admission.pinned.items() if s in current and current[s] != a)
    return moved + orphans + pins
