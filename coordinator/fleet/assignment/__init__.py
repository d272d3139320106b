"""Sensor assignment: which agent watches which sensor. Pure code: no I/O, no clock.

    contract.py         SensorSpec, AgentSpec, Assignment, the AssignmentStrategy Protocol
    eligibility.py      tiers, capacity and pins; what no agent can take, and why
    balance.py          fair shares (water-filling) and the band [t / 1.25, 1.25 t]
    flow.py             a small min-cost flow solver
    plan.py             sticky rebalancing with the fewest moves; ``fewest_moves``
    round_robin.py      the baseline deal
    least_loaded.py     by heartbeat load score
    geo_proximity.py    nearest by great-circle distance
    consistent_hash.py  rendezvous hashing with bounded loads
    registry.py         the strategies by name

See docs/fleet.md ("Assignment strategies") for the guarantees.
"""

from edgewatch.coordinator.fleet.assignment.balance import Bounds
from edgewatch.coordinator.fleet.assignment.contract import (
    AgentSpec,
    Assignment,
    AssignmentStrategy,
    SensorSpec,
    Tier,
)
from edgewatch.coordinator.fleet.assignment.plan import fewest_moves
from edgewatch.coordinator.fleet.assignment.registry import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    make_strategy,
    strategy_names,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "AgentSpec",
    "Assignment",
    "AssignmentStrategy",
    "Bounds",
    "SensorSpec",
    "Tier",
    "fewest_moves",
    "make_strategy",
    "strategy_names",
]
