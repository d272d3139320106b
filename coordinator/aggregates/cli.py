"""``edgewatch aggregates rebuild [--since T] [--db PATH]``: recompute windows from raw
readings; ``edgewatch aggregates show --api URL --scope S --window W``: print windows.

``rebuild`` works on the store file itself (``--db``, the coordinator's default), also
while the coordinator runs: hour by hour, each in one write transaction
(``aggregates.rebuild``). ``--since`` takes epoch seconds, an ISO 8601 time, or an age
such as ``2h`` / ``7d`` (that long ago).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from edgewatch.coordinator.alerts.cli import api_call, token_of
from edgewatch.coordinator.alerts.rules import duration
from edgewatch.coordinator.store.location import location_arg
from edgewatch.shared.errors import ConfigError, EdgewatchError
from edgewatch.shared.progress import Progress
from edgewatch.shared.redact import redact

PROG = "edgewatch aggregates"
DEFAULT_DB = Path("var/coordinator/edgewatch.db")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="aggregates_action", required=True, metavar="ACTION")
    rb = sub.add_parser("rebuild", help="recompute windows from the raw readings")
    rb.add_argument(
        "--db",
        type=location_arg,
        default=DEFAULT_DB,
        help="the coordinator's store: a SQLite file or a postgresql:// URL",
    )
    rb.add_argument("--since", default=None, help="epoch seconds, ISO time or age (2h, 7d)")
    show = sub.add_parser("show", help="windows of one scope from a running coordinator")
    show.add_argument("--api", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000")
    show.add_argument("--scope", default="fleet", help="sensor:ID, type:T, agent:A or fleet")
    show.add_argument("--window", default="5m", help="1m, 5m, 15m or 1h")
    show.add_argument("--since", default=None, help="epoch seconds, ISO time or age (2h, 7d)")
    show.add_argument(
        "--token-file", type=Path, help="API token file (default EDGEWATCH_API_TOKEN)"
    )


def parse_since(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        pass
    try:
        return now - duration(value)
    except ValueError:
        raise ConfigError(f"--since {value!r}: epoch seconds, an ISO time or an age (2h)") from None


def run(args: argparse.Namespace) -> int:
    try:
        if args.aggregates_action == "show":
            return _show(args)
        return _rebuild(args)
    except EdgewatchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def _rebuild(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.aggregates.rebuild import rebuild
    from edgewatch.coordinator.store.location import open_existing

    since = parse_since(args.since, time.time())
    store = open_existing(args.db)

    try:
        with Progress("rebuild (hours)") as progress:
            hours, readings = rebuild(
                store,
                since,
                progress=lambda done, total, n: progress.update(done, total, f"{n:,} readings"),
            )
    finally:
        store.close()
    print(f"rebuilt {hours} hour(s) of windows from {readings} readings in {redact(str(args.db))}")
    return 0


def _show(args: argparse.Namespace) -> int:
    since = parse_since(args.since, time.time())
    query = f"scope={args.scope}&window={args.window}"
    if since is not None:
        query += f"&since={since}"
    base = args.api.rstrip("/")
    print(
        json.dumps(api_call("GET", f"{base}/api/v1/aggregates?{query}", token_of(args)), indent=2)
    )
    return 0
