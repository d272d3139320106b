"""``geo_proximity``: each sensor to the nearest agent that may take it and has room.

Distance is the great-circle distance (haversine, on a sphere of the Earth's mean
radius, 6371.0088 km): at 50° north a degree of longitude is 72 km, not 111, so naive
Euclidean degrees pick the wrong agent. Capacity is the only limit; this strategy makes
no balance promise, as geography is lopsided (its ``bounds`` are capacities alone).

Contention is settled nearest first: all (sensor, agent) pairs are taken in ascending
distance, a pair placing the sensor if the agent still has room. That is the stable
matching in which sensor and agent both prefer shorter distances, and it depends only
on the ids and places, never on ``current``, so a sensor moves only when its nearest
agent with room changes (an agent joins nearer, or its own is lost). Tiers go most
restricted first, so a rule-scored sensor never takes the room a model sensor needs.

Without coordinates: an agent without a place is a last resort for placed sensors
(used only when every agent with a place is full); a sensor without a place stays on
its current agent while that is valid, else it goes to the eligible agent with room
that holds the fewest sensors (ties by id).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence

from edgewatch.coordinator.fleet.assignment.balance import Bounds, capacity_bounds
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, Assignment, SensorSpec
from edgewatch.coordinator.fleet.assignment.eligibility import (
    RANK,
    TIERS,
    Admission,
    admit,
    can_take,
    valid_home,
)

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees.

    >>> round(haversine_km(52.5200, 13.4050, 48.8566, 2.3522))  # Berlin - Paris
    877
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _place_of(item: SensorSpec | AgentSpec) -> tuple[float, float] | None:
    if item.latitude is None or item.longitude is None:
        return None
    return item.latitude, item.longitude


class GeoProximity:
    """Nearest eligible agent with room; no balance bound."""

    name = "geo_proximity"

    def bounds(self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec]) -> Bounds:
        return capacity_bounds(admit(sensors, agents, {}))

    def assign(
        self, sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], current: Mapping[str, str]
    ) -> Assignment:
        admission = admit(sensors, agents, current)
        fill = _Fill(admission)
        by_id = {a.agent_id: a for a in admission.agents}
        located = [a for a in admission.agents if _place_of(a) is not None]
        unlocated = [a for a in admission.agents if _place_of(a) is None]
        for rank in reversed(range(len(TIERS))):
            tier = [s for s in admission.free if RANK[s.required_tier] == rank]
            placed = [s for s in tier if _place_of(s) is not None]
            _nearest_first(placed, located, fill)
            for sensor in (s for s in placed if s.sensor_id not in fill.placement):
                spare = fill.emptiest(sensor, unlocated)  # every placed agent is full
                fill.put(sensor, spare if spare is not None else fill.emptiest(sensor, located))
            nowhere = [s for s in tier if _place_of(s) is None]
            for sensor in nowhere:  # a sensor without a place keeps its agent if it can
                home = valid_home(sensor, by_id, current)
                if home is not None and fill.fits(home):
                    fill.put(sensor, home)
            for sensor in (s for s in nowhere if s.sensor_id not in fill.placement):
                fill.put(sensor, fill.emptiest(sensor, admission.agents))
        return Assignment(
            {s: fill.placement[s] for s in sorted(fill.placement)},
            dict(admission.unassigned),
            dict(admission.unhonoured_pins),
        )


class _Fill:
    """The placement being built, with each agent's count and room left."""

    def __init__(self, admission: Admission) -> None:
        self.placement = dict(admission.pinned)
        self.held = dict(admission.pins)
        self.room = {a.agent_id: admission.room(a) for a in admission.agents}

    def fits(self, agent_id: str) -> bool:
        spare = self.room[agent_id]
        return spare is None or spare > 0

    def put(self, sensor: SensorSpec, agent_id: str | None) -> None:
        if agent_id is None:
            # ``admit`` keeps only sensors that fit and tiers go most restricted first,
            # so some eligible agent always has room left for a kept sensor.
            raise AssertionError(f"admitted sensor {sensor.sensor_id!r} found no room")
        self.placement[sensor.sensor_id] = agent_id
        self.held[agent_id] += 1
        spare = self.room[agent_id]
        self.room[agent_id] = None if spare is None else spare - 1

    def emptiest(self, sensor: SensorSpec, among: Sequence[AgentSpec]) -> str | None:
        """The eligible agent with room holding the fewest sensors (ties by id)."""
        fitting = [a.agent_id for a in among if can_take(a, sensor) and self.fits(a.agent_id)]
        return min(fitting, key=lambda a: (self.held[a], a)) if fitting else None


def _nearest_first(sensors: Sequence[SensorSpec], agents: Sequence[AgentSpec], fill: _Fill) -> None:
    """Place sensors taking (sensor, eligible agent) pairs in ascending distance.

    Lazily: each sensor offers itself to its nearest agent, and to the next only when
    that one is full. Agents only ever fill up, so the pairs taken are those a sort of
    all pairs (distance, sensor id, agent id) would take, without sorting them all.
    """
    ranked: dict[str, list[tuple[float, str]]] = {}
    heap: list[tuple[float, str, str, int]] = []
    by_id = {s.sensor_id: s for s in sensors}
    for sensor in sensors:
        here = _place_of(sensor)
        assert here is not None
        options = sorted(
            (haversine_km(*here, *there), a.agent_id)
            for a in agents
            if (there := _place_of(a)) is not None and can_take(a, sensor)
        )
        if options:
            ranked[sensor.sensor_id] = options
            heap.append((options[0][0], sensor.sensor_id, options[0][1], 0))
    heapq.heapify(heap)
    while heap:
        _, sensor_id, agent_id, k = heapq.heappop(heap)
        if fill.fits(agent_id):
            fill.put(by_id[sensor_id], agent_id)
        elif k + 1 < len(ranked[sensor_id]):
            distance, nxt = ranked[sensor_id][k + 1]
            heapq.heappush(heap, (distance, sensor_id, nxt, k + 1))
