"""``edgewatch train --type T [--tier] [--since] --api URL``: a coordinator trains from its store.

The request is ``POST /api/v1/models/train``; while the coordinator trains (seconds for a
few hundred thousand readings), the elapsed time is shown on stderr. The answer is the
new model's registry record, printed for a person, with what to do next. With ``--out``
the model file is downloaded too (``GET /api/v1/models/{id}/file``).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from edgewatch.coordinator.api_client import ApiClient
from edgewatch.coordinator.models.trainer import RECIPE_SMOOTH, RECIPE_THRESHOLD
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.files import write_atomic

PROG = "edgewatch train"
TRAIN_TIMEOUT_S = 900.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
# Options of the CSV path that a coordinator does not take (it trains with its recipe).
_CSV_ONLY: dict[str, object] = {
    "csv_sep": None,
    "rows": None,
    "detector": "iforest",
    "window": 1,
    "stats": [],
    "lags": [],
    "adaptive": None,
    "version": None,
    "smooth": RECIPE_SMOOTH,
    "quantile": RECIPE_THRESHOLD.quantile,
    "margin": RECIPE_THRESHOLD.margin,
    "seed": 0,
}


def parse_when(text: str, now: float) -> float:
    """``6h``/``90m``/``2d``/``30s`` ago, epoch seconds, or an ISO 8601 time."""
    value = text.strip()
    m = _DURATION.match(value)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise ConfigError(
            f"{text!r} is not a time: give 6h, 90m, 2d (ago), epoch seconds or ISO 8601"
        ) from exc


def _check(args: argparse.Namespace) -> None:
    given = [
        "--" + name.replace("_", "-")
        for name, default in _CSV_ONLY.items()
        if getattr(args, name, default) != default
    ]
    if given:
        raise ConfigError(
            f"{', '.join(given)}: for --csv only (a coordinator trains with its own recipe)"
        )
    if args.tier not in ("medium", "high"):
        raise ConfigError(f"unknown --tier {args.tier!r}; one of medium, high")
    if args.out is not None and args.out.suffix != ".onnx":
        raise ConfigError(f"--out {args.out} must end in .onnx: agents load only *.onnx files")


def train_remote(args: argparse.Namespace) -> int:
    try:
        _check(args)
        now = time.time()
        body: dict[str, Any] = {"sensor_type": args.type, "tier": args.tier}
        if args.since is not None:
            body["since"] = parse_when(args.since, now)
        if args.until is not None:
            body["until"] = parse_when(args.until, now)
        client = ApiClient.of(args, timeout=TRAIN_TIMEOUT_S)
        record = _with_progress(client, body, f"training {args.type} ({args.tier}) on {args.api}")
        if args.out is not None:
            write_atomic(args.out, client.raw("GET", f"models/{record['id']}/file"))
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(summary(record, args))
    return 0


def _with_progress(client: ApiClient, body: dict[str, Any], what: str) -> Any:
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["record"] = client.post("models/train", body)
        except ConfigError as exc:
            result["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    t0 = time.monotonic()
    worker.start()
    tty = sys.stderr.isatty()
    print(f"{what} ...", file=sys.stderr, flush=True)
    while worker.is_alive():
        worker.join(1.0 if tty else 5.0)
        if worker.is_alive():
            end = "\r" if tty else "\n"
            print(f"  {time.monotonic() - t0:.0f} s", end=end, file=sys.stderr, flush=True)
    if tty:
        print(file=sys.stderr)
    if "error" in result:
        raise result["error"]
    return result["record"]


def summary(m: dict[str, Any], args: argparse.Namespace) -> str:
    t = m["training"]
    e = m.get("evaluation") or {}
    lines = [
        f"registered model {m['id']} on {args.api} (status {m['status']})",
        f"  type       {m['sensor_type']}  (tier {m['tier']}, {t['detector']}"
        + (f", {t['trees']} trees)" if t.get("trees") else ")"),
        f"  version    {m['version']}  (results will say {m['scorer']})",
        f"  rows       {t['rows']} from {len(t['agents'])} agent(s), {t['sensors']} sensor(s);"
        f" {t['excluded']} left out as anomalous",
        f"  took       {t['seconds']:.1f} s",
    ]
    if e:
        f1 = f", F1 {e['f1']:.3f} on {e['labelled']} labelled" if e.get("f1") is not None else ""
        lines.append(f"  held back  {e['rows']} readings: anomaly rate {e['anomaly_rate']:.4f}{f1}")
    lines.append(f"  file       {m['size']:,} bytes, sha256 {m['sha256']}, key {m['key_id']}")
    if args.out is not None:
        lines.append(f"  saved      {Path(args.out)}")
    lines.append(f"roll it out: edgewatch rollout start {m['id']} --canary 10% --api {args.api}")
    return "\n".join(lines)
