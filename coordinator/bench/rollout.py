"""``edgewatch bench rollout``: training from the store, pushing to the fleet, a hot swap.

One run, one private Mosquitto, one coordinator process:

1. ``train_s``: a store filled with simulated readings of four types; per type, the seconds
   ``ModelRegistry.train(type, "high")`` takes (100 trees, read, fit, export, evaluate,
   sign, register), in this process;
2. ``push_to_all_s``: seconds from ``POST /rollouts`` (``100%``) until every agent reports
   the new version to the coordinator (``GET /agents``): for ``--agents`` real agent
   processes, then for ``--emulated`` protocol-level agents that fetch and verify
   each package with the agent's own code (``bench.model_agents``);
3. ``agent_rss_mb_with_model``: peak RSS of a real agent running a pushed, signed 100-tree
   model for each of the four simulated types at ``--rss-rate`` readings/s;
4. ``swap_lost`` / ``swap_dup`` / ``swap_misattributed``: an agent at ``--rate`` readings/s
   while its models are swapped twice; the store is read back: every seq once, and per
   type no reading judged by an older version after a newer one judged any.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.model_agents import ModelAgent
from edgewatch.coordinator.bench.procs import (
    api_get,
    api_post,
    edgewatch_argv,
    spawn,
    stop,
    wait_healthy,
)
from edgewatch.coordinator.bench.rollout_data import fill_store, memory_parts, swap_figures
from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.shared.signing import SignKey

TYPES = ("industrial", "environmental", "automotive", "medical")
TARGETS = {"push_to_all_s_emulated": 5.0, "swap_lost": 0, "swap_dup": 0, "agent_rss_mb": 80.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--agents", type=int, default=10, help="real agent processes (10)")
    parser.add_argument("--emulated", type=int, default=100, help="emulated agents (100)")
    parser.add_argument("--rows", type=int, default=120_000, help="readings stored for train_s")
    parser.add_argument("--rate", type=float, default=5000.0, help="hot swap: readings/s")
    parser.add_argument("--rss-rate", type=float, default=2000.0, help="RSS run: readings/s")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")


def _wait(check: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{what} within {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic() - t0


class _Run:
    def __init__(self, work: Path, broker: BrokerProcess) -> None:
        self.work = work
        self.broker = broker
        self.port = free_port()
        self.procs: list[Any] = []
        db = work / "coordinator.db"
        self.coord = spawn(
            edgewatch_argv(
                "coordinator", "--broker", broker.url, "--db", str(db), "--port", str(self.port),
                "--client-id", f"bench-rollout-{self.port}", "--train-min-rows", "500",
            ),
            work / "coordinator.log",
        )  # fmt: skip
        wait_healthy(self.port, 60)
        self.token = (db.parent / "api-token").read_text().strip()
        key = SignKey.from_pem((db.parent / "model-signing.key").read_bytes())
        self.pub = work / "pub.pem"
        self.pub.write_text(key.public.pem)

    def get(self, path: str) -> Any:
        return api_get(self.port, path, self.token)

    def post(self, path: str, body: Any) -> Any:
        return api_post(self.port, path, self.token, body)

    def agent(self, agent_id: str, rate: float, count: int, *, seed: int = 3) -> Any:
        proc = spawn(
            edgewatch_argv(
                "agent", "--id", agent_id, "--broker", self.broker.url, "--data-dir",
                str(self.work / agent_id), "--tier", "high", "--model-pubkey", str(self.pub),
                "--sensors", "12", "--rate", str(rate), "--count", str(count), "--seed", str(seed),
                "--heartbeat-s", "1", "--exit-when-drained",
            ),
            self.work / f"{agent_id}.log",
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def versions(self, agents: set[str], sensor_type: str) -> dict[str, int | None]:
        listed = {a["id"]: a for a in self.get("agents") if a["id"] in agents}
        return {
            a: (listed[a]["models"].get(sensor_type) or {}).get("version") if a in listed else None
            for a in agents
        }

    def push(self, model: dict[str, Any], agents: set[str]) -> float:
        """Seconds from the rollout's start until every one of ``agents`` that runs the
        type (the rollout's targets) reports it."""
        t0 = time.monotonic()
        rollout = self.post("rollouts", {"model_id": model["id"], "canary": "100%"})
        agents = agents & set(rollout["canary"])
        if not agents:
            raise RuntimeError(f"no agent runs {model['sensor_type']}: nothing to measure")
        want = model["version"]
        _wait(
            lambda: all(v == want for v in self.versions(agents, model["sensor_type"]).values()),
            120,
            "not every agent reported the new model",
        )
        return time.monotonic() - t0

    def stop(self) -> None:
        for proc in [*self.procs, self.coord]:
            stop(proc)


def _real_push(run: _Run, n: int) -> tuple[float, dict[str, Any]]:
    ids = {f"r{i:02d}" for i in range(n)}
    procs = [run.agent(a, 100.0, 10**7, seed=i) for i, a in enumerate(sorted(ids))]
    _wait(lambda: len({a["id"] for a in run.get("agents")} & ids) == n, 60, "agents not seen", 0.2)
    models: dict[str, Any] = {}
    for t in TYPES:
        _wait(lambda t=t: _has_data(run, t), 120, f"no {t} data", 0.5)  # type: ignore[misc]
        models[t] = run.post("models/train", {"sensor_type": t, "tier": "high"})
    seconds = run.push(models["medical"], ids)
    for t in TYPES[:3]:
        run.push(models[t], ids)
    for proc in procs:
        stop(proc)
    return seconds, models


def _has_data(run: _Run, sensor_type: str) -> bool:
    seen = [s for s in run.get("sensors") if s["sensor_type"] == sensor_type and s["activity"]]
    return bool(sum(s["activity"]["readings"] for s in seen) > 1500)


def _emulated_push(run: _Run, n: int) -> float:
    agents = [ModelAgent(f"e{i:03d}", run.broker.port, run.pub) for i in range(n)]
    ids = {a.agent_id for a in agents}
    try:
        # First they converge on the active models of all four types.
        _wait(
            lambda: all(all(a.models.get(t) for t in TYPES) for a in agents), 180, "no convergence"
        )
        fresh = run.post("models/train", {"sensor_type": "medical", "tier": "high"})
        return run.push(fresh, ids)
    finally:
        for a in agents:
            a.close()


def _covering_seed() -> int:
    """A simulator seed whose first 12 sensors hold every simulated type."""
    from edgewatch.agent.sources.simulator import expected_stream

    return next(
        s for s in range(100) if set(expected_stream(s, 12, 0, 12).sensor_type) >= set(TYPES)
    )


def _rss(run: _Run, rate: float) -> tuple[float, dict[str, float]]:
    """Peak RSS of an agent running all four pushed models, from once it runs them."""
    proc = run.agent("rss-1", rate, int(rate * 20), seed=_covering_seed())
    watch = psutil.Process(proc.pid)
    _wait(
        lambda: all(v is not None for v in (run.versions({"rss-1"}, t)["rss-1"] for t in TYPES)),
        60,
        "the RSS agent never ran all four models",
        0.2,
    )
    peak, parts = 0.0, {}
    while proc.poll() is None:
        try:
            rss = watch.memory_info().rss / 1e6
            if rss > peak:
                peak, parts = rss, memory_parts(proc.pid)
        except psutil.Error:
            break
        time.sleep(0.1)
    return round(peak, 1), parts


def _swap(run: _Run, rate: float, models: dict[str, Any]) -> dict[str, Any]:
    count = int(rate * 15)
    v2 = run.post("models/train", {"sensor_type": "medical", "tier": "high"})
    v3 = run.post("models/train", {"sensor_type": "medical", "tier": "high"})
    proc = run.agent("swap-1", rate, count, seed=_covering_seed())
    _wait(lambda: run.versions({"swap-1"}, "medical")["swap-1"] is not None, 60, "no model")
    first = run.versions({"swap-1"}, "medical")["swap-1"]
    for model in (v2, v3):  # two swaps while readings flow
        time.sleep(3.0)
        run.push(model, {"swap-1"})
    _wait(lambda: proc.poll() is not None, 180, "the swap agent did not drain", 0.2)
    names = ["rules", *(f"onnx:medical@{v}" for v in (first, v2["version"], v3["version"]))]
    return swap_figures(run.work / "coordinator.db", "swap-1", count, names)


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-rollout-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    result: dict[str, Any] = {"bench": "rollout"}
    say(f"train_s: {args.rows} readings in a fresh store, 100 trees per type ...")
    result["train_s"], result["train_rows"] = fill_store(work / "train", args.rows, TYPES)
    with BrokerProcess("mosquitto", work) as broker:
        session = _Run(work, broker)
        try:
            say(f"push_to_all_s: {args.agents} real agents ...")
            real, models = _real_push(session, args.agents)
            say(f"push_to_all_s: {args.emulated} emulated agents ...")
            emulated = _emulated_push(session, args.emulated)
            result["push_to_all_s"] = {
                f"real_{args.agents}": round(real, 3),
                f"emulated_{args.emulated}": round(emulated, 3),
            }
            say(
                f"agent_rss_mb_with_model: four 100-tree models at {args.rss_rate:g} readings/s ..."
            )
            rss, parts = _rss(session, args.rss_rate)
            result["agent_rss_mb_with_model"] = rss
            result["agent_rss_mb_parts"] = parts
            say(f"hot swap at {args.rate:g} readings/s, two swaps ...")
            result.update(_swap(session, args.rate, models))
        finally:
            session.stop()
    result["targets"] = TARGETS
    result["workdir"] = str(work)
    print(json.dumps(result, indent=None if args.json else 2))
    ok = result["swap_lost"] == 0 and result["swap_dup"] == 0 and result["swap_misattributed"] == 0
    return 0 if ok else 1
