"""``edgewatch tokens create|list|revoke --db PATH``: API tokens, on the coordinator's host.

``create`` prints the token once (only its hash is kept): give it to the client that
needs it. ``read`` tokens may read everything but the audit log; ``admin`` tokens may
also change things. Every create and revoke is written to the audit log. A running
coordinator sees a new or revoked token at its next request (it looks tokens up in the
store each time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from edgewatch.coordinator.security.audit import cli_source, record_cli
from edgewatch.coordinator.security.tokens import create_token
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store.location import StoreLocation, location_arg, open_existing
from edgewatch.coordinator.store.security_records import SCOPES
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import EdgewatchError

VERB = "tokens"


def _default_db() -> StoreLocation:
    default = str(CoordinatorSettings.model_fields["db"].default)
    return location_arg(os.environ.get("EDGEWATCH_DB", default))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tokens_action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="make a token and print it (once)")
    create.add_argument("--scope", choices=SCOPES, default="read", help="read (default) or admin")
    create.add_argument("--name", default="", help="what it is for, e.g. grafana")
    listing = sub.add_parser("list", help="the tokens (never the tokens themselves)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = sub.add_parser("revoke", help="revoke a token by its id (from list)")
    revoke.add_argument("token_id", metavar="ID", help="the token's id")
    for p in (create, listing, revoke):
        p.add_argument(
            "--db",
            type=location_arg,
            default=None,
            help="the coordinator's store, a SQLite file or a postgresql:// URL "
            "[env EDGEWATCH_DB; default var/coordinator/edgewatch.db]",
        )


def run(args: argparse.Namespace) -> int:
    db: StoreLocation = args.db or _default_db()
    try:
        store = open_existing(db)
    except EdgewatchError as exc:
        return fail(VERB, exc)
    try:
        if args.tokens_action == "create":
            token, rec = create_token(store, args.name or "unnamed", args.scope, cli_source())
            record_cli(store, "tokens create", f"{rec.token_id} {rec.scope} {rec.name}")
            # The token on stdout alone (scripts capture it); what it is on stderr.
            print(f"token {rec.token_id} ({rec.scope}, {rec.name}); shown once:", file=sys.stderr)
            print(token)
            return 0
        if args.tokens_action == "revoke":
            if not store.revoke_token(args.token_id, time.time()):
                return fail(VERB, f"no active token {args.token_id}", 1)
            record_cli(store, "tokens revoke", args.token_id)
            print(f"revoked token {args.token_id}")
            return 0
        for t in store.tokens():
            if args.json:
                print(json.dumps(t.__dict__))
            else:
                state = "active" if t.active else "revoked"
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.created_at))
                print(f"{t.token_id}  {t.scope:<6} {state:<8} {when}  {t.name}  by {t.created_by}")
        return 0
    finally:
        store.close()
