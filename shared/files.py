"""Files written whole or not at all: a temp file beside the target, fsynced, renamed.

A crash (or a power cut) leaves the old content or the new, never part of one; the
directory is fsynced too so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` by ``data``; raises ``OSError``. ``mode`` applies from the start
    (a secret is never readable by others, not even for a moment)."""
    _publish(path, data, mode, exclusive=False)


def create_atomic(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """``write_atomic``, but only if ``path`` does not exist yet: False (and ``path``
    untouched) if another process, sharing the directory, created it first."""
    return _publish(path, data, mode, exclusive=True)


def _publish(path: Path, data: bytes, mode: int, *, exclusive: bool) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer (processes on a shared volume, threads of one process).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # whatever the umask did
        if exclusive:
            try:
                os.link(tmp, path)  # atomic, and fails where the name is taken
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                    raise
                # No hard links here (vfat, some network and FUSE mounts): claim the
                # name with O_EXCL, then write it (not atomic: a crash may leave it short).
                return _create_in_place(path, data, mode)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sync_dir(path.parent)
    return True


def sync_dir(directory: Path) -> None:
    """fsync a directory, so renames and unlinks in it are durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_in_place(path: Path, data: bytes, mode: int) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    sync_dir(path.parent)
    return True
