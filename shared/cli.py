"""The ``edgewatch`` console script: one verb per job, each in the module that owns it.

Verb modules are imported lazily, only when their verb runs, so ``edgewatch agent``
never pulls in FastAPI or scikit-learn. Each verb module exposes
``add_arguments(parser)`` and ``run(args) -> int``.

A verb that needs the ``coordinator`` extra on an agent-only install (the base package)
ends in one line saying what to install, with exit status 2:

    edgewatch coordinator: needs the coordinator extra: pip install '.[coordinator]' (from a
    checkout) or 'edgewatch[coordinator]' (a wheel)
    (missing module fastapi)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edgewatch.shared.redact import redact

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
        "embedded broker + coordinator + simulated site sensors + 3 assigned agents",
    ),
    "bench": ("edgewatch.shared.bench_cli", "benchmarks: pipeline, scoring, recovery, fleet ..."),
    "eval": ("edgewatch.coordinator.evaluation.cli", "evaluate detection quality on labelled data"),
    "train": (
        "edgewatch.coordinator.models.cli",
        "train a sensor type's ONNX model from a CSV, or on a coordinator from its store",
    ),
    "simulate": ("edgewatch.agent.simulate_cli", "publish the simulated fleet to a site broker"),
    "sensors": ("edgewatch.coordinator.fleet.cli", "register sensors with a coordinator, list"),
    "status": (
        "edgewatch.coordinator.status.cli",
        "the fleet in a terminal; exit 1 if it needs you",
    ),
    "report": (
        "edgewatch.coordinator.report.cli",
        "the analytics figure (PNG) of a period, from the store",
    ),
    "rollout": (
        "edgewatch.coordinator.rollout.cli",
        "roll a model out (canary, quality gate), list rollouts, promote or roll back",
    ),
    "keys": ("edgewatch.coordinator.models.keys_cli", "the model-signing key: show, rotate"),
    "aggregates": (
        "edgewatch.coordinator.aggregates.cli",
        "windowed aggregates: rebuild from raw readings, show",
    ),
    "alerts": (
        "edgewatch.coordinator.alerts.cli",
        "alerts of a coordinator: list, ack, clear, silence; check a rule file",
    ),
    "site": (
        "edgewatch.coordinator.site.cli",
        "make a secure site: TLS broker config, CA, identities",
    ),
    "enroll": ("edgewatch.coordinator.site.enroll_cli", "enroll an agent: one bundle file for it"),
    "revoke": (
        "edgewatch.coordinator.site.revoke_cli",
        "revoke an identity (disconnected at once)",
    ),
    "agents": ("edgewatch.coordinator.site.agents_cli", "list enrolled agents and their state"),
    "tokens": ("edgewatch.coordinator.security.tokens_cli", "API tokens: create, list, revoke"),
    "backup": ("edgewatch.coordinator.backup_cli", "copy a running coordinator's SQLite store"),
    "restore": ("edgewatch.coordinator.restore_cli", "a coordinator store from a backup file"),
}
# Top-level modules of the coordinator extra (pyproject.toml) and what they pull in.
EXTRA_MODULES = frozenset(
    {"fastapi", "starlette", "uvicorn", "amqtt", "sklearn", "skl2onnx", "onnx", "matplotlib"}
    | {"sqlalchemy", "psycopg"}
)
EXIT_USAGE = 2  # bad flags, bad settings, missing extra: the command line must change


def fail(verb: str, error: object, code: int = EXIT_USAGE) -> int:
    """Print ``error`` as ``edgewatch VERB: ...`` on stderr (each line), return ``code``.

    The one way a verb reports a mistake: no traceback, secrets in URLs masked.
    """
    for line in redact(str(error)).splitlines() or [""]:
        print(f"edgewatch {verb}: {line}", file=sys.stderr, flush=True)
    return code


def missing_extra(exc: BaseException | None) -> str | None:
    """The coordinator-extra module whose absence ``exc`` (or what caused it) reports."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError):
            top = (exc.name or "").split(".")[0]
            if top in EXTRA_MODULES:
                return top
        exc = exc.__cause__ or exc.__context__
    return None


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
    verb = next((a for a in args_list if a in VERBS), "")
    try:
        return _dispatch(args_list)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # The import may fail deep inside (the embedded broker imports amqtt in its own
        # thread and re-raises there): look through what caused the error.
        module = missing_extra(exc)
        if module is None:
            raise
        return fail(
            verb,
            "needs the coordinator extra: pip install 'edgewatch[coordinator]' "
            f"(missing module {module})",
        )


def _dispatch(args_list: list[str]) -> int:
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(args._module)
    return int(module.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
