"""The ``edgewatch`` console script: one verb per job, each in the module that owns it.

Verb modules are imported lazily, only when their verb runs, so ``edgewatch agent``
never pulls in FastAPI or scikit-learn. Each verb module exposes
``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# verb -> (module, one-line help). Nested verbs (bench) dispatch again inside the module.
VERBS: dict[str, tuple[str, str]] = {
    "agent": (
        "edgewatch.agent.cli",
        "run an edge agent: source -> scorer -> outbox -> MQTT uplink",
    ),
    "coordinator": ("edgewatch.coordinator.cli", "run the coordinator: ingest, store, REST API"),
    "broker": ("edgewatch.coordinator.broker.cli", "run the embedded MQTT broker (amqtt) alone"),
    "demo": (
        "edgewatch.coordinator.demo",
        "embedded broker + coordinator + 3 agents on 50 sensors",
    ),
    "bench": ("edgewatch.shared.bench_cli", "benchmarks: pipeline, scoring, recovery"),
    "eval": ("edgewatch.coordinator.evaluation.cli", "evaluate detection quality on labelled data"),
    "train": ("edgewatch.coordinator.models.cli", "train a sensor type's ONNX model from a CSV"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewatch",
        description="Real-time anomaly detection for sensor fleets at the edge.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    # Only the chosen verb's module is imported; the others get a help-only stub.
    chosen = next((a for a in argv if a in VERBS), None)
    for verb, (module_name, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        if verb == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
