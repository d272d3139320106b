"""``edgewatch sensors import FILE --api URL`` and ``edgewatch sensors list --api URL``.

Registers the sensors of a CSV or TOML file (``fleet.catalog_file``) with a running
coordinator through ``POST /api/v1/sensors``, or lists what it knows. The token comes
from ``EDGEWATCH_API_TOKEN`` or ``--token-file`` (never a flag: it would show in ``ps``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgewatch.coordinator.fleet.catalog_file import read_sensor_file
from edgewatch.shared.errors import ConfigError

PROG = "edgewatch sensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sensors_action", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="register the sensors of a CSV or TOML file")
    imp.add_argument("file", type=Path, help="sensors, one per CSV row or TOML [[sensor]] table")
    listing = sub.add_parser("list", help="the sensors a coordinator knows, as JSON")
    for p in (imp, listing):
        p.add_argument("--api", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000")
        p.add_argument(
            "--token-file",
            type=Path,
            help="file holding the API token (default: EDGEWATCH_API_TOKEN)",
        )


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            return str(args.token_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read {args.token_file}: {exc.strerror}") from exc
    token = os.environ.get("EDGEWATCH_API_TOKEN", "")
    if not token:
        raise ConfigError("no API token: set EDGEWATCH_API_TOKEN or pass --token-file FILE")
    return token


def _call(method: str, url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise ConfigError(f"{method} {url}: HTTP {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise ConfigError(f"cannot reach {url}: {exc.reason}") from exc


def run(args: argparse.Namespace) -> int:
    base = args.api.rstrip("/") + "/api/v1/sensors"
    try:
        token = _token(args)
        if args.sensors_action == "list":
            print(json.dumps(_call("GET", base, token), indent=2))
            return 0
        entries = read_sensor_file(args.file)
        body = [e.model_dump(mode="json") for e in entries]
        result = _call("POST", base, token, body)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"registered {result['registered']} sensor(s) from {args.file} ({result['new']} new)")
    return 0
