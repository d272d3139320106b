"""Backup and restore of a SQLite coordinator: the store and the files kept beside it.

``backup`` copies the live database with SQLite's **online backup API** (a consistent
snapshot while ingest goes on: no stop, no torn pages) and packs it with the secrets the
coordinator keeps next to it (``KEPT_FILES``: the API token and the model-signing key; a
key file kept elsewhere is named with ``model_key_file``) into one tar file with a
manifest. The site's CA lives in the site directory of ``edgewatch site init``, which is
backed up as a directory (docs/security.md). ``restore`` unpacks
one into a new location; a coordinator started there answers the API as the original
did at the time of the backup.

A PostgreSQL store is backed up with PostgreSQL's own tools (``pg_dump -Fc`` /
``pg_restore``, docs/scale-out.md): its secrets are in the database or given to every
replica as files, never kept beside a database file.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.coordinator.errors import StoreError
from edgewatch.shared import __version__

STORE_MEMBER = "store.db"
MANIFEST = "manifest.json"
FORMAT = "edgewatch.backup/1"
# Files a coordinator keeps beside its SQLite store that a restore must bring back.
KEY_FILE = "model-signing.key"
KEPT_FILES: tuple[str, ...] = ("api-token", KEY_FILE)


@dataclass(frozen=True)
class BackupInfo:
    out: Path
    store_bytes: int
    files: tuple[str, ...]
    migrations: tuple[int, ...]
    # The store holds a signing key chain but no key file was packed: a restored
    # coordinator would refuse to start until the file is put back.
    key_missing: bool = False


def _migrations(db: Path) -> tuple[int, ...]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(r[0] for r in conn.execute("SELECT number FROM schema_migrations ORDER BY 1"))
    finally:
        conn.close()


def backup(db: Path, out: Path, *, model_key_file: Path | None = None) -> BackupInfo:
    """Snapshot the store at ``db`` (live or not) and its kept files into ``out``;
    ``model_key_file``: the coordinator's ``--model-key-file`` if not beside the store."""
    if not db.exists():
        raise StoreError(f"no store at {db}")
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        snapshot = Path(tmp) / STORE_MEMBER
        source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(snapshot)
        try:
            # Pages in steps: the writer is blocked only for a moment at a time, and a
            # write during the copy makes SQLite restart it, so the copy is consistent.
            source.backup(target, pages=4096)
        except sqlite3.Error as exc:
            raise StoreError(f"backup of {db} failed: {exc}") from exc
        finally:
            target.close()
            source.close()
        sources = {n: db.parent / n for n in KEPT_FILES}
        if model_key_file is not None:
            sources[KEY_FILE] = model_key_file
        kept = tuple(n for n, p in sources.items() if p.is_file())
        migrations = _migrations(snapshot)
        key_missing = KEY_FILE not in kept and _has_signing_keys(snapshot)
        manifest = {
            "format": FORMAT,
            "edgewatch": __version__,
            "created_at": time.time(),
            "source": str(db),
            "migrations": list(migrations),
            "files": list(kept),
        }
        partial = out.with_name(f".{out.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode(), 0o600)
            tar.add(snapshot, arcname=STORE_MEMBER)
            for name in kept:
                tar.add(sources[name], arcname=f"files/{name}")
        os.replace(partial, out)  # the backup holds secrets: 0600, never half written
        return BackupInfo(out, snapshot.stat().st_size, kept, migrations, key_missing)


def _has_signing_keys(snapshot: Path) -> bool:
    conn = sqlite3.connect(snapshot)
    try:
        return conn.execute("SELECT 1 FROM signing_keys LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:  # a store from before the model registry
        return False
    finally:
        conn.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def restore(archive: Path, db: Path, *, force: bool = False) -> dict[str, object]:
    """Unpack ``archive`` into a store at ``db`` (and its kept files beside it)."""
    if db.exists() and not force:
        raise StoreError(f"{db} exists; restore into a new path (or --force to replace it)")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            return _unpack(tar, archive, db)
    except (OSError, tarfile.TarError) as exc:
        raise StoreError(f"{archive} is not an edgewatch backup: {exc}") from exc


def _unpack(tar: tarfile.TarFile, archive: Path, db: Path) -> dict[str, object]:
    names = set(tar.getnames())
    if MANIFEST not in names or STORE_MEMBER not in names:
        raise StoreError(f"{archive} is not an edgewatch backup (no {MANIFEST} or store)")
    manifest = json.loads(_read(tar, MANIFEST))
    if manifest.get("format") != FORMAT:
        raise StoreError(f"{archive}: unknown backup format {manifest.get('format')!r}")
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    tmp = db.with_name(f".{db.name}.restoring")
    tmp.write_bytes(_read(tar, STORE_MEMBER))
    os.replace(tmp, db)
    for name in manifest.get("files", []):
        if name not in KEPT_FILES:  # never write a path the archive made up
            continue
        fd = os.open(db.parent / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_read(tar, f"files/{name}"))
    return dict(manifest)


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise StoreError(f"backup member {name} is not a file")
    return member.read()
