"""``edgewatch bench KIND``: each benchmark lives beside the code it measures."""

from __future__ import annotations

import argparse
import importlib

KINDS: dict[str, tuple[str, str]] = {
    "pipeline": (
        "edgewatch.coordinator.bench.pipeline",
        "agent -> broker -> coordinator store, end to end",
    ),
    "scoring": (
        "edgewatch.coordinator.bench.scoring",
        "ONNX scorer vs skl2onnx stock vs scikit-learn",
    ),
    "recovery": ("edgewatch.coordinator.bench.recovery", "drain of an offline agent's backlog"),
    "ingest": ("edgewatch.coordinator.bench.ingest", "the coordinator's ingest alone"),
    "fleet": (
        "edgewatch.coordinator.bench.fleet",
        "assignment: balance, moves on join, reassignment after a loss, convergence",
    ),
    "dashboard": (
        "edgewatch.coordinator.bench.dashboard",
        "the live page in Chromium with 100 agents: first paint, updates, page weight",
    ),
    "report": (
        "edgewatch.coordinator.bench.report",
        "edgewatch report over a store of 10 million readings",
    ),
    "rollout": (
        "edgewatch.coordinator.bench.rollout",
        "models: train from the store, push to the fleet, hot swap, agent RSS with models",
    ),
    "alerts": (
        "edgewatch.coordinator.bench.alerts",
        "alert latency, ingest with aggregates and alerts on/off, episode recall",
    ),
    "fleet-scale": (
        "edgewatch.coordinator.bench.fleet_scale",
        "N emulated agents vs one coordinator or two replicas, SQLite vs PostgreSQL",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_kind", required=True, metavar="KIND")
    for kind, (module_name, help_text) in KINDS.items():
        p = sub.add_parser(kind, help=help_text, description=help_text)
        p.set_defaults(_bench_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        module.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(args._bench_module)
    return int(module.run(args))
