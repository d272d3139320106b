"""Files that hold secrets or data are written for their owner only.

``write_private`` creates a file 0600 from its first byte (``O_CREAT`` with the mode, then
an atomic rename), so a key or a bundle is never readable by others, not even for a
moment. ``keep_private`` is for databases SQLite creates: it makes the file before SQLite
does (SQLite gives its ``-wal`` and ``-shm`` files the main file's mode) and takes the
world's bits off one that exists already, saying so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
PRIVATE = 0o600


def write_private(path: Path, text: str | bytes, mode: int = PRIVATE) -> Path:
    """Write ``text`` to ``path`` with ``mode`` (0600), atomically; returns ``path``."""
    data = text.encode() if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # whatever the umask did
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def keep_private(path: Path) -> None:
    """Create ``path`` 0600 if absent; strip the world's bits from it and its WAL if not.

    Group bits are left as they are: a service's group (systemd ``UMask=0027``) may be
    meant to read it. The world never is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
        return
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = each.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o007:
            try:
                os.chmod(each, mode & ~0o007)
            except OSError as exc:
                log.warning("%s is readable by every local user (mode %o): %s", each, mode, exc)
                continue
            log.warning(
                "%s was readable by every local user (mode %o): now %o", each, mode, mode & ~0o007
            )
