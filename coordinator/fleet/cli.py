"""``edgewatch sensors import FILE --api URL`` and ``edgewatch sensors list --api URL``.

Registers the sensors of a CSV or TOML file (``fleet.catalog_file``) with a running
coordinator through ``POST /api/v1/sensors``, or lists what it knows. The token comes
from ``EDGEWATCH_API_TOKEN`` or ``--token-file`` (never a flag: it would show in ``ps``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgewatch.coordinator.client import ApiClient, add_api_arguments
from edgewatch.coordinator.fleet.catalog_file import read_sensor_file
from edgewatch.shared.errors import ConfigError

PROG = "edgewatch sensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sensors_action", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="register the sensors of a CSV or TOML file")
    imp.add_argument("file", type=Path, help="sensors, one per CSV row or TOML [[sensor]] table")
    listing = sub.add_parser("list", help="the sensors a coordinator knows, as JSON")
    for p in (imp, listing):
        add_api_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        api = ApiClient.from_args(args)
        if args.sensors_action == "list":
            print(json.dumps(api.get("sensors"), indent=2))
            return 0
        entries = read_sensor_file(args.file)
        result = api.post("sensors", [e.model_dump(mode="json") for e in entries])
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"registered {result['registered']} sensor(s) from {args.file} ({result['new']} new)")
    return 0
