"""``edgewatch alerts ...``: list, acknowledge, clear and silence alerts of a running
coordinator through its API; ``edgewatch alerts check FILE`` checks a rule file offline.

The token comes from ``EDGEWATCH_API_TOKEN`` or ``--token-file`` (never a flag: it would
show in ``ps``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from edgewatch.shared.errors import ConfigError, EdgewatchError

PROG = "edgewatch alerts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="alerts (default: the active ones), newest first")
    ls.add_argument("--state", default="active", help="active, open, acknowledged, cleared, all")
    ls.add_argument("--rule", default=None)
    ls.add_argument("--scope", default=None, help="sensor:ID, type:T, agent:A or fleet")
    for action in ("ack", "clear"):
        p = sub.add_parser(action, help=f"{action} an alert by hand")
        p.add_argument("id", type=int)
        p.add_argument("--note", default="", help="shown in the alert's history")
    si = sub.add_parser("silence", help="mute a rule and/or scope for a while (still recorded)")
    si.add_argument("--rule", default=None, help="any rule if absent")
    si.add_argument("--scope", default=None, help="any scope if absent")
    si.add_argument("--for", dest="duration", required=True, help="e.g. 30m, 2h, 1d")
    si.add_argument("--reason", default="")
    sub.add_parser("silences", help="the silences in force")
    un = sub.add_parser("unsilence", help="end a silence now")
    un.add_argument("id", type=int)
    check = sub.add_parser("check", help="check a rule file (no coordinator needed)")
    check.add_argument("file", type=Path)
    for p in (ls, *[sub.choices[a] for a in ("ack", "clear", "silence", "silences", "unsilence")]):
        p.add_argument("--api", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000")
        p.add_argument(
            "--token-file", type=Path, help="API token file (default EDGEWATCH_API_TOKEN)"
        )


def token_of(args: argparse.Namespace) -> str:
    if getattr(args, "token_file", None) is not None:
        try:
            return str(args.token_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read {args.token_file}: {exc.strerror}") from exc
    token = os.environ.get("EDGEWATCH_API_TOKEN", "")
    if not token:
        raise ConfigError("no API token: set EDGEWATCH_API_TOKEN or pass --token-file FILE")
    return token


def api_call(method: str, url: str, token: str, body: Any = None) -> Any:
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
    try:
        return _run(args)
    except EdgewatchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.alerts.rules import duration, load_rules

    action = args.alerts_action
    if action == "check":
        rules = load_rules(args.file)
        enabled = ", ".join(r.name for r in rules.enabled())
        print(f"{args.file}: {len(rules.enabled())} rule(s) enabled: {enabled}")
        return 0
    base = args.api.rstrip("/") + "/api/v1"
    token = token_of(args)
    who = getpass.getuser()
    if action == "list":
        query = {k: v for k, v in (("rule", args.rule), ("scope", args.scope)) if v}
        if args.state != "all":
            query["state"] = args.state
        out = api_call("GET", f"{base}/alerts?{urllib.parse.urlencode(query)}", token)
    elif action in ("ack", "clear"):
        out = api_call(
            "POST", f"{base}/alerts/{args.id}/{action}", token, {"by": who, "note": args.note}
        )
    elif action == "silence":
        try:
            seconds = duration(args.duration)
        except ValueError as exc:
            raise ConfigError(f"--for: {exc}") from None
        body = {
            "rule": args.rule,
            "scope": args.scope,
            "duration_s": seconds,
            "reason": args.reason,
            "by": who,
        }
        out = api_call("POST", f"{base}/silences", token, body)
    elif action == "silences":
        out = api_call("GET", f"{base}/silences", token)
    else:
        out = api_call("DELETE", f"{base}/silences/{args.id}", token)
    print(json.dumps(out, indent=2))
    return 0
