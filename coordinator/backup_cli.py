"""``edgewatch backup --db FILE --out BACKUP``: a consistent copy of a running coordinator.

SQLite: the online backup API, while the coordinator runs. PostgreSQL: use ``pg_dump``
(one line says how; docs/scale-out.md has the steps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.store.location import is_postgres
from edgewatch.shared.cli import fail

VERB = "backup"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="the coordinator's --db (a SQLite file)")
    parser.add_argument("--out", type=Path, required=True, help="backup file to write (tar.gz)")
    parser.add_argument(
        "--model-key-file",
        type=Path,
        help="the coordinator's model-signing key, if it was given one outside the db's "
        "directory (default: model-signing.key beside the db)",
    )


def run(args: argparse.Namespace) -> int:
    if is_postgres(args.db):
        return fail(
            VERB,
            "a PostgreSQL store is backed up with pg_dump: pg_dump -Fc -f FILE 'URL' "
            "(restore: pg_restore -d URL FILE); see docs/scale-out.md#backup-and-restore",
        )
    from edgewatch.coordinator.backup import backup

    try:
        info = backup(Path(args.db), args.out, model_key_file=args.model_key_file)
    except (StoreError, OSError) as exc:
        return fail(VERB, exc, 1)
    kept = ", ".join(info.files) or "none"
    print(
        f"edgewatch backup: {info.out} ({info.store_bytes} bytes of store, schema "
        f"{max(info.migrations, default=0)}, files: {kept})"
    )
    if info.key_missing:
        print(
            "edgewatch backup: warning: the store has model-signing keys but no key file was "
            "packed: pass --model-key-file FILE (a restored coordinator needs it)",
            file=sys.stderr,
        )
    return 0
