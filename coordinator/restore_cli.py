"""``edgewatch restore --from BACKUP --db FILE``: a store (and its files) from a backup.

Restores into a new path (``--force`` replaces an existing store: stop its coordinator
first). Start a coordinator with ``--db FILE`` afterwards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store.location import is_postgres
from edgewatch.shared.cli import fail

VERB = "restore"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", type=Path, required=True, help="backup file")
    parser.add_argument("--db", required=True, help="SQLite file to create")
    parser.add_argument("--force", action="store_true", help="replace an existing store")


def run(args: argparse.Namespace) -> int:
    if is_postgres(args.db):
        return fail(VERB, "restore a PostgreSQL store with pg_restore (docs/scale-out.md)")
    from edgewatch.coordinator.backup import restore

    try:
        manifest = restore(args.source, Path(args.db), force=args.force)
    except (StoreError, OSError) as exc:
        return fail(VERB, exc, 1)
    print(
        f"edgewatch restore: {args.db} from {args.source} (made {manifest.get('created_at')}, "
        f"files: {', '.join(manifest.get('files', [])) or 'none'})"  # type: ignore[arg-type]
    )
    return 0
