"""``edgewatch keys show|rotate``: the model-signing key.

``show`` prints the current public key (PEM), the one agents pin with
``--model-pubkey``; ``--chain`` prints every key with its endorsement, as JSON. ``rotate``
makes a new key endorsed by the current one and re-signs every model; agents follow
the endorsement. Either acts on a coordinator's store directly (``--db PATH``, with
``--model-key-file`` when the private key is not beside it; a running coordinator picks
a rotation up within a second) or through a running coordinator (``--api URL``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgewatch.coordinator.api_client import ApiClient
from edgewatch.coordinator.settings import MODEL_KEY_FILE
from edgewatch.shared.errors import EdgewatchError

PROG = "edgewatch keys"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="print the public key agents pin (PEM)")
    show.add_argument("--chain", action="store_true", help="every key and endorsement, JSON")
    rotate = sub.add_parser("rotate", help="a new signing key, endorsed by the current one")
    for p in (show, rotate):
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--db", type=Path, metavar="PATH", help="the coordinator's store")
        where.add_argument("--api", metavar="URL", help="a running coordinator")
        p.add_argument(
            "--token-file",
            type=Path,
            help="with --api: the API token (default: EDGEWATCH_API_TOKEN)",
        )
        p.add_argument(
            "--model-key-file",
            type=Path,
            metavar="FILE",
            help=f"the private key (default: {MODEL_KEY_FILE} beside --db)",
        )


def run(args: argparse.Namespace) -> int:
    try:
        if args.api is not None:
            return _remote(args)
        return _local(args)
    except EdgewatchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def _local(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.models.signing import Keyring
    from edgewatch.coordinator.store import SqliteStore

    db: Path = args.db
    if not db.exists():
        print(f"{PROG}: no store at {db} (start the coordinator once first)", file=sys.stderr)
        return 2
    store = SqliteStore(db)
    try:
        keyring = Keyring.open(store, args.model_key_file or db.parent / MODEL_KEY_FILE)
        if args.keys_action == "rotate":
            record = keyring.rotate()
            print(f"rotated to key {record.key_id} (endorsed by {record.endorsed_by})")
            print(keyring.public_pem, end="")
        elif args.chain:
            print(keyring.chain().model_dump_json(indent=2))
        else:
            print(keyring.public_pem, end="")
    finally:
        store.close()
    return 0


def _remote(args: argparse.Namespace) -> int:
    client = ApiClient.of(args)
    if args.keys_action == "rotate":
        chain = client.post("keys/rotate")
        newest = chain["keys"][-1]
        print(f"rotated to key {newest['key_id']} (endorsed by {newest['endorsed_by']})")
        print(newest["public_key"], end="")
    elif args.chain:
        print(json.dumps(client.get("keys"), indent=2))
    else:
        print(client.raw("GET", "keys/current").decode(), end="")
    return 0
