"""``edgewatch revoke ID --site DIR``: the identity is deleted at the broker (which cuts
its connection at once) and its enrollment is revoked; the coordinator refuses it from
then on. Its bundle is worthless afterwards."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgewatch.coordinator.site.enrollment import Site, revoke
from edgewatch.coordinator.site.identity import BrokerAuthError
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import EdgewatchError

VERB = "revoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("identity", metavar="AGENT_ID", help="the identity to revoke")
    parser.add_argument("--site", type=Path, required=True, metavar="DIR", help="the site")
    parser.add_argument("--db", type=Path, default=None, help="the coordinator's store")


def run(args: argparse.Namespace) -> int:
    try:
        site = Site.open(args.site, args.db)
        at_broker, in_store = revoke(site, args.identity)
    except BrokerAuthError as exc:
        return fail(VERB, f"the broker refused: {exc}", 1)
    except EdgewatchError as exc:
        return fail(VERB, exc)
    if not (at_broker or in_store):
        return fail(VERB, f"{args.identity} is not enrolled at this site", 1)
    how = "disconnected now" if site.config.auth == "dynsec" else "refused once the broker reloads"
    print(f"revoked {args.identity}: {'removed from the broker, ' if at_broker else ''}{how}")
    return 0
