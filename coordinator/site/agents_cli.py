"""``edgewatch agents list --site DIR``: enrolled identities, what the broker holds of
them, and the coordinator's last word on each (online, offline, never seen)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edgewatch.coordinator.site.enrollment import Site, list_identities
from edgewatch.coordinator.site.identity import BrokerAuthError
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import EdgewatchError

VERB = "agents"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="agents_action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="enrolled identities and their state")
    listing.add_argument("--site", type=Path, required=True, metavar="DIR", help="the site")
    listing.add_argument("--db", type=Path, default=None, help="the coordinator's store")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.add_argument("--no-broker", action="store_true", help="do not ask the broker")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def run(args: argparse.Namespace) -> int:
    try:
        site = Site.open(args.site, args.db)
        rows = list_identities(site, ask_broker=not args.no_broker)
    except BrokerAuthError as exc:
        return fail(VERB, f"{exc} (--no-broker lists the store alone)", 1)
    except EdgewatchError as exc:
        return fail(VERB, exc)
    rows = [r for r in rows if args.all or r.enrollment.active]
    if args.json:
        for r in rows:
            e = r.enrollment
            print(
                json.dumps(
                    {
                        "identity": e.identity,
                        "role": e.role,
                        "client_id": e.client_id,
                        "tier": e.tier,
                        "enrolled_at": e.enrolled_at,
                        "revoked_at": e.revoked_at,
                        "at_broker": r.at_broker,
                        "state": r.state,
                        "last_seen": r.last_seen,
                    }
                )
            )
        return 0
    print(f"{'IDENTITY':<20} {'ROLE':<12} {'ENROLLED':<20} {'BROKER':<8} {'STATE':<11} LAST SEEN")
    for r in rows:
        e = r.enrollment
        broker = "?" if r.at_broker is None else "yes" if r.at_broker else "no"
        if e.active and r.at_broker is False:
            broker = "MISSING"  # enrolled, but the broker lost it: re-enroll
        state = "revoked" if not e.active else r.state
        print(
            f"{e.identity:<20} {e.role:<12} {_when(e.enrolled_at):<20} {broker:<8} "
            f"{state:<11} {_when(r.last_seen)}"
        )
    return 0
