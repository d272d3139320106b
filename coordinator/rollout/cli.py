"""``edgewatch rollout start|list|promote|rollback``: staged rollouts on a running coordinator.

edgewatch rollout start 7 --canary 10% --api URL      # canary, soak, gate, promote
edgewatch rollout start 7 --canary pi-1,pi-2 --shadow --api URL
edgewatch rollout start 7 --all --api URL             # every agent at once
edgewatch rollout list --api URL                      # rollouts, newest first, events
edgewatch rollout promote 3 --api URL                 # decide by hand
edgewatch rollout rollback 3 --reason "false alarms on line 2" --api URL
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from edgewatch.coordinator.api_client import ApiClient, add_api_arguments
from edgewatch.shared.errors import ConfigError

PROG = "edgewatch rollout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rollout_action", required=True, metavar="ACTION")
    start = sub.add_parser("start", help="roll a registered model out: canary first, or --all")
    start.add_argument("model", type=int, metavar="MODEL", help="the model's id (GET /models)")
    how = start.add_mutually_exclusive_group()
    how.add_argument(
        "--canary", metavar="N%|AGENT,...", help="canary share or agent ids (default 10%%)"
    )
    how.add_argument("--all", action="store_true", help="every agent at once (no canary)")
    start.add_argument(
        "--shadow", action="store_true", help="canaries score with it beside the current model"
    )
    listing = sub.add_parser("list", help="rollouts, newest first, with their events")
    listing.add_argument("--json", action="store_true", help="the API's JSON as is")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (20)")
    decide = []
    for action, text in (("promote", "promote to every agent now"), ("rollback", "roll back now")):
        p = sub.add_parser(action, help=text)
        p.add_argument("rollout", type=int, metavar="ROLLOUT", help="the rollout's id")
        p.add_argument("--reason", default="operator", help="recorded with the event")
        decide.append(p)
    for p in (start, listing, *decide):
        add_api_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        client = ApiClient.of(args)
        action = args.rollout_action
        if action == "start":
            canary = "100%" if args.all else (args.canary or "10%")
            body = {"model_id": args.model, "canary": canary, "shadow": args.shadow}
            print(describe(client.post("rollouts", body)))
        elif action == "list":
            found = client.get(f"rollouts?limit={args.limit}")
            print(json.dumps(found, indent=2) if args.json else "\n\n".join(map(describe, found)))
        else:
            out = client.post(f"rollouts/{args.rollout}/{action}", {"reason": args.reason})
            print(describe(out))
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def describe(r: dict[str, Any]) -> str:
    lines = [
        f"rollout {r['id']}: model {r['model_id']} ({r['sensor_type']}/{r['tier']}) "
        f"{r['state']}{' (shadow)' if r['shadow'] else ''}",
        f"  canary   {r['canary_spec']}: {', '.join(r['canary']) or '-'}",
        f"  started  {_when(r['started_at'])}",
    ]
    if r.get("gate"):
        g = r["gate"]
        lines.append(f"  gate     {g['decision']}: {'; '.join(g['reasons'])}")
    for e in r["events"]:
        lines.append(f"  {_when(e['at'])}  {e['kind']:<11} {e['reason']}")
    return "\n".join(lines)
