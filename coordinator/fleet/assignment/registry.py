"""The strategies by name, for the coordinator's assignment option.

>>> strategy_names()
('consistent_hash', 'geo_proximity', 'least_loaded', 'round_robin')
>>> make_strategy("least_loaded").name
'least_loaded'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from edgewatch.coordinator.fleet.assignment.consistent_hash import ConsistentHash
from edgewatch.coordinator.fleet.assignment.contract import AssignmentStrategy
from edgewatch.coordinator.fleet.assignment.geo_proximity import GeoProximity
from edgewatch.coordinator.fleet.assignment.least_loaded import LeastLoaded
from edgewatch.coordinator.fleet.assignment.round_robin import RoundRobin

# Sticky, balanced, and placement a function of the ids: the safe choice without tuning.
DEFAULT_STRATEGY = "consistent_hash"

STRATEGIES: Mapping[str, Callable[[], AssignmentStrategy]] = MappingProxyType(
    {
        "consistent_hash": ConsistentHash,
        "geo_proximity": GeoProximity,
        "least_loaded": LeastLoaded,
        "round_robin": RoundRobin,
    }
)


def strategy_names() -> tuple[str, ...]:
    """Every name ``make_strategy`` accepts, sorted (argparse ``choices``)."""
    return tuple(sorted(STRATEGIES))


def make_strategy(name: str) -> AssignmentStrategy:
    """The strategy called ``name``; ValueError (listing the names) for any other."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown assignment strategy {name!r}; one of {', '.join(strategy_names())}"
        ) from None
    return factory()
