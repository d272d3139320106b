"""Balance figures of the assignment strategies: loads, and sensors moved per event.

For each strategy, on the simulator's fleet (sensor types and places from
``agent.sources.fleet_model.build_fleet``; medical sensors need a model, so a medium or
high agent) and ``--agents`` agents in world cities (tiers low, medium, high in turn,
heartbeat figures drawn from the seed):

1. assign from scratch;
2. a further agent (medium tier) joins: ``join_moves`` is how many sensors the strategy
   moves, ``join_moves_optimal`` the fewest moves that reach its balance bound;
3. the second agent is lost: ``loss_moves`` against ``loss_moves_optimal`` (its sensors
   have to move: ``lost_agent_sensors``).

``max_load_ratio`` is the largest agent's sensor count over the mean, after each step;
the issue's targets are judged beside the figures. Pure computation: no I/O but the
report, the same figures for the same arguments.

    python -m edgewatch.coordinator.bench.fleet_balance --sensors 300 --agents 3 --json
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from edgewatch.agent.sources.fleet_model import build_fleet
from edgewatch.coordinator.fleet.assignment import (
    AgentSpec,
    Assignment,
    AssignmentStrategy,
    SensorSpec,
    Tier,
    fewest_moves,
    make_strategy,
    strategy_names,
)

# Agents' places: spread over the continents the simulated sensors are spread over.
CITIES = (
    ("berlin", 52.5200, 13.4050),
    ("singapore", 1.3521, 103.8198),
    ("sao-paulo", -23.5505, -46.6333),
    ("chicago", 41.8781, -87.6298),
    ("nairobi", -1.2921, 36.8219),
    ("sydney", -33.8688, 151.2093),
)
TIER_CYCLE: tuple[Tier, ...] = ("low", "medium", "high")
JOIN_TIER: Tier = "medium"
MODEL_TYPES = frozenset({"medical"})  # sensor types that need a model (medium tier or up)
BOUND = 1.25
JOIN_SLACK = 1.1  # the target: join_moves <= 1.1 x optimal
STICKY = ("consistent_hash", "least_loaded")  # the strategies that target is for
UNBOUNDED = ("geo_proximity",)  # the one strategy the load bound is not for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sensors", type=int, default=300, help="simulated sensors")
    parser.add_argument("--agents", type=int, default=3, help="agents before the join")
    parser.add_argument("--seed", type=int, default=0, help="fleet and heartbeat seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def fleet_sensors(sensors: int, seed: int) -> list[SensorSpec]:
    return [
        SensorSpec(
            s.sensor_id,
            s.sensor_type,
            s.latitude,
            s.longitude,
            "medium" if s.sensor_type in MODEL_TYPES else "low",
        )
        for s in build_fleet(seed, sensors).sensors
    ]


def fleet_agent(index: int, seed: int, tier: Tier | None = None) -> AgentSpec:
    """Agent ``index`` (0-based) in the next city, with heartbeat figures from the seed."""
    rng = random.Random(f"fleet-balance:{seed}:{index}")  # str seeds are not salted
    city, lat, lon = CITIES[index % len(CITIES)]
    return AgentSpec(
        f"agent-{index + 1}-{city}",
        tier or TIER_CYCLE[index % len(TIER_CYCLE)],
        lat,
        lon,
        cpu_percent=round(rng.uniform(5, 70), 1),
        memory_percent=round(rng.uniform(20, 70), 1),
        battery_percent=None if rng.random() < 0.5 else round(rng.uniform(30, 100), 1),
        outbox_rows=rng.choice((0, 0, 200, 5_000)),
    )


def max_load_ratio(result: Assignment, agents: int) -> float:
    """Largest agent load over the mean load (placed sensors / agents)."""
    loads = result.loads()
    placed = sum(loads.values())
    return round(max(loads.values()) * agents / placed, 4) if placed else 0.0


def _within_bound(result: Assignment, agents: int) -> bool:
    placed = len(result.placement)
    return max(result.loads().values(), default=0) <= math.ceil(BOUND * placed / agents)


def strategy_figures(
    strategy: AssignmentStrategy,
    fleet: Sequence[SensorSpec],
    crew: Sequence[AgentSpec],
    joiner: AgentSpec,
) -> dict[str, Any]:
    """One strategy through scratch, join and loss."""
    joined = [*crew, joiner]
    lost = crew[1] if len(crew) > 1 else crew[0]
    survivors = [a for a in joined if a.agent_id != lost.agent_id]
    start = strategy.assign(fleet, crew, {})
    after_join = strategy.assign(fleet, joined, start.placement)
    after_loss = strategy.assign(fleet, survivors, after_join.placement)

    def optimal(agents: Sequence[AgentSpec], current: Mapping[str, str]) -> int:
        return fewest_moves(fleet, agents, current, strategy.bounds(fleet, agents))

    steps = {"before": (start, len(crew)), "after_join": (after_join, len(joined))}
    steps["after_loss"] = (after_loss, len(survivors))
    return {
        "max_load_ratio": {k: max_load_ratio(r, n) for k, (r, n) in steps.items()},
        "max_load_within_bound": {k: _within_bound(r, n) for k, (r, n) in steps.items()},
        "join_moves": after_join.moves_from(start.placement),
        "join_moves_optimal": optimal(joined, start.placement),
        "joiner_sensors": after_join.loads().get(joiner.agent_id, 0),
        "loss_moves": after_loss.moves_from(after_join.placement),
        "loss_moves_optimal": optimal(survivors, after_join.placement),
        "lost_agent_sensors": after_join.loads().get(lost.agent_id, 0),
        "unassigned": len(start.unassigned),
    }


def balance_figures(sensors: int = 300, agents: int = 3, seed: int = 0) -> dict[str, Any]:
    """The figures of every strategy, and the issue's targets judged on them."""
    if sensors < 1 or agents < 1:
        raise ValueError("need sensors >= 1 and agents >= 1")
    fleet = fleet_sensors(sensors, seed)
    crew = [fleet_agent(i, seed) for i in range(agents)]
    joiner = fleet_agent(agents, seed, JOIN_TIER)
    per = {
        name: strategy_figures(make_strategy(name), fleet, crew, joiner)
        for name in strategy_names()
    }
    targets = {
        f"join_moves<={JOIN_SLACK}x_optimal": {
            n: per[n]["join_moves"] <= JOIN_SLACK * per[n]["join_moves_optimal"] for n in STICKY
        },
        f"max_load<=ceil({BOUND}x_mean)": {
            n: all(per[n]["max_load_within_bound"].values()) for n in per if n not in UNBOUNDED
        },
    }
    return {
        "bench": "fleet_balance",
        "sensors": sensors,
        "agents": agents,
        "seed": seed,
        "agent_ids": [a.agent_id for a in (*crew, joiner)],
        "strategies": per,
        "targets": targets,
    }


def _table(report: Mapping[str, Any]) -> str:
    lines = ["strategy         max/mean before join  loss | join moves opt | loss moves opt"]
    for name, f in report["strategies"].items():
        r = f["max_load_ratio"]
        lines.append(
            f"{name:16} {r['before']:11.3f} {r['after_join']:5.3f} {r['after_loss']:5.3f}"
            f" | {f['join_moves']:10} {f['join_moves_optimal']:3}"
            f" | {f['loss_moves']:10} {f['loss_moves_optimal']:3}"
        )
    for target, met in report["targets"].items():
        lines.append(
            f"{target}: " + ", ".join(f"{n} {'ok' if v else 'MISSED'}" for n, v in met.items())
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = balance_figures(args.sensors, args.agents, args.seed)
    print(json.dumps(report, indent=2) if args.json else _table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="balance figures of the assignment strategies")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
