"""``edgewatch status --api URL [--watch S] [--json]``.

Exit status: 0 all well, 1 something needs attention (listed), 2 a usage mistake (no
token, bad flags), 3 the coordinator cannot be asked (unreachable, or it refused the
token). With ``--watch`` it redraws every S seconds until Ctrl-C and exits with the last
round's status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from edgewatch.coordinator.client import ApiClient, ApiRefused, ApiUnreachable, add_api_arguments
from edgewatch.coordinator.status.report import Status, Thresholds, build_status
from edgewatch.coordinator.status.table import render
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError

EXIT_OK, EXIT_ATTENTION, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
CLEAR = "\x1b[H\x1b[2J"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_api_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--watch", type=float, metavar="S", help="redraw every S seconds")
    parser.add_argument(
        "--backlog-s",
        type=float,
        default=60.0,
        help="results unsent longer than this need attention (default 60)",
    )


def fetch(api: ApiClient, thresholds: Thresholds) -> Status:
    try:
        ready = api.get("health/ready")
    except ApiRefused as exc:
        if exc.status != 503:  # 503 carries the same body: not ready, and why
            raise
        try:
            ready = json.loads(exc.body)
        except ValueError:
            ready = {"status": "not_ready"}
    return build_status(
        api.base, ready, api.get("stats"), api.get("agents"), time.time(), thresholds
    )


def run(args: argparse.Namespace) -> int:
    if args.watch is not None and args.watch <= 0:
        return fail("status", "--watch: give a number of seconds above 0")
    try:
        api = ApiClient.from_args(args)
    except ConfigError as exc:
        return fail("status", exc)
    thresholds = Thresholds(backlog_s=args.backlog_s)
    code = EXIT_OK
    try:
        while True:
            code = _once(api, thresholds, args.json, clear=args.watch is not None)
            if args.watch is None:
                return code
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return code


def _once(api: ApiClient, thresholds: Thresholds, as_json: bool, *, clear: bool) -> int:
    try:
        status = fetch(api, thresholds)
    except (ApiUnreachable, ApiRefused) as exc:
        fail("status", exc)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(status.model_dump(mode="json")), flush=True)
    else:
        prefix = CLEAR if clear and sys.stdout.isatty() else ""
        print(prefix + render(status), flush=True)
    return EXIT_ATTENTION if status.attention else EXIT_OK
