"""The balance bound: each agent's fair share, and the band its load must stay in.

**Fair share** (``target``). Without tiers, capacities or pins it is the mean,
``sensors / agents``. In general it is the water-filling share: the most even
*fractional* split of the admitted sensors in which every sensor sits on an agent that
may take it, pinned sensors stay on their agents and no agent exceeds its capacity. The
level rises evenly over all agents; where a tier's forced demand (sensors only that tier
or higher may take) outgrows the common level, that tier's agents fill to a higher level
of their own, and agents whose capacity or pins stop them sit at that count. For nested
tiers this is found exactly by peeling off the densest tier suffix (``_water_fill``).

**Band** (``Bounds``). Every strategy but ``geo_proximity`` keeps each agent's load in
``[floor(target / 1.25), min(capacity, ceil(1.25 * target))]`` (pins count as load; the
low end is raised to the agent's pins). The ceiling is the bound of consistent hashing
with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018) with c = 1.25; the floor
is its mirror, so a joining agent takes at least four fifths of its fair share rather
than sitting idle. Inside the band nothing needs to move: the band is the hysteresis
that keeps heartbeat noise from shuffling sensors. Both ends are integers and always
feasible, since the fractional fair split itself lies inside them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from edgewatch.coordinator.fleet.assignment.eligibility import RANK, Admission

RATIO = Fraction(5, 4)  # the bounded-loads factor c


@dataclass(frozen=True, slots=True)
class Bounds:
    """Per agent id: fair share, and the inclusive band ``[low, high]`` of its load."""

    target: Mapping[str, Fraction]
    low: Mapping[str, int]
    high: Mapping[str, int]

    def problems(self, loads: Mapping[str, int]) -> list[str]:
        """Every agent whose load (absent: 0) is outside its band, as text."""
        out = []
        for agent_id in sorted(self.target):
            load = loads.get(agent_id, 0)
            if not self.low[agent_id] <= load <= self.high[agent_id]:
                band = f"[{self.low[agent_id]}, {self.high[agent_id]}]"
                out.append(f"{agent_id}: {load} sensors, outside {band}")
        return out


@dataclass(frozen=True, slots=True)
class Vessel:
    """One agent in the water-filling: load at level L is ``clamp(L - offset, floor, cap)``."""

    agent_id: str
    rank: int
    floor: int  # honoured pins
    cap: int | None
    offset: Fraction = Fraction(0)

    def load(self, level: Fraction) -> Fraction:
        filled = max(Fraction(self.floor), level - self.offset)
        return filled if self.cap is None else min(Fraction(self.cap), filled)


def count_bounds(admission: Admission) -> Bounds:
    """The band around the plain fair share (every sensor weighs the same)."""
    vessels = [
        Vessel(a.agent_id, RANK[a.tier], admission.pins[a.agent_id], a.capacity)
        for a in admission.agents
    ]
    return band(admission, fair_shares(vessels, admission.demand()), caps=_caps(admission))


def band(
    admission: Admission, target: Mapping[str, Fraction], caps: Mapping[str, int | None]
) -> Bounds:
    """``[floor(t / 1.25), min(cap, ceil(1.25 t))]`` per agent, low end at least its pins."""
    low, high = {}, {}
    placed = len(admission.free) + len(admission.pinned)
    for agent_id, t in target.items():
        cap = caps[agent_id]
        high[agent_id] = min(math.ceil(RATIO * t), placed if cap is None else cap)
        low[agent_id] = max(admission.pins[agent_id], math.floor(t / RATIO))
    return Bounds(dict(target), low, high)


def capacity_bounds(admission: Admission) -> Bounds:
    """Capacity alone, for a strategy that promises no balance (``geo_proximity``)."""
    vessels = [
        Vessel(a.agent_id, RANK[a.tier], admission.pins[a.agent_id], a.capacity)
        for a in admission.agents
    ]
    target = fair_shares(vessels, admission.demand())
    placed = len(admission.free) + len(admission.pinned)
    high = {a.agent_id: placed if a.capacity is None else a.capacity for a in admission.agents}
    return Bounds(target, dict(admission.pins), high)


def _caps(admission: Admission) -> dict[str, int | None]:
    return {a.agent_id: a.capacity for a in admission.agents}


def fair_shares(vessels: Sequence[Vessel], demand: Sequence[int]) -> dict[str, Fraction]:
    """Each vessel's load in the water-filling split of ``demand`` (free sensors per rank).

    Repeatedly: for every tier suffix (agents of rank >= r) find the level at which it
    holds its forced demand (free sensors of rank >= r, plus its pins); the suffix with
    the highest level fills to it and leaves, and the rest is split among lower ranks.
    Ties go to the larger suffix, which is the even split.
    """
    shares: dict[str, Fraction] = {}
    left = sorted(vessels, key=lambda v: v.agent_id)
    top = len(demand)  # ranks below ``top`` still have demand to place
    while left:
        best: tuple[Fraction, int] | None = None
        for r in range(top):
            members = [v for v in left if v.rank >= r]
            if members:
                level = _level(members, sum(demand[r:top]) + sum(v.floor for v in members))
                if best is None or level > best[0]:
                    best = (level, r)
        if best is None:  # agents of ranks with no demand left: pins only
            shares.update((v.agent_id, Fraction(v.floor)) for v in left)
            break
        level, r = best
        shares.update((v.agent_id, v.load(level)) for v in left if v.rank >= r)
        left = [v for v in left if v.rank < r]
        top = r
    return shares


def _level(members: Sequence[Vessel], need: int) -> Fraction:
    """The lowest level at which ``members`` together hold ``need`` sensors.

    The total is piecewise linear in the level with kinks where a vessel starts filling
    (floor + offset) or is full (cap + offset): walk the kinks, then interpolate. If
    even full vessels cannot hold ``need`` (admission prevents it) the top kink is used.
    """
    kinks = sorted(
        {v.floor + v.offset for v in members}
        | {v.cap + v.offset for v in members if v.cap is not None}
    )

    def total(level: Fraction) -> Fraction:
        return sum((v.load(level) for v in members), Fraction(0))

    previous = kinks[0]
    if total(previous) >= need:
        return previous
    for kink in kinks[1:]:
        if total(kink) >= need:
            return _interpolate(previous, kink, total(previous), total(kink), need)
        previous = kink
    open_ended = sum(1 for v in members if v.cap is None)
    if open_ended == 0:
        return previous
    return previous + (need - total(previous)) / open_ended


def _interpolate(x0: Fraction, x1: Fraction, y0: Fraction, y1: Fraction, y: int) -> Fraction:
    return x0 + (x1 - x0) * (y - y0) / (y1 - y0)
