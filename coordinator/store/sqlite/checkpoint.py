"""WAL checkpoints off the ingest thread.

With ``synchronous=FULL`` a commit appends its pages to the WAL and fsyncs it: that is
the durability the ack relies on, and it stays on the ingest thread. Copying those pages
back into the database file (the **checkpoint**, with its own fsync) is not needed for
durability, yet SQLite's automatic checkpoint runs it inside whichever commit crosses
``wal_autocheckpoint``: a profile of the recovery drain found ~20 % of the ingest
thread in ``COMMIT``, most of it that copy and its fsync.

So the writer turns the automatic checkpoint off and this thread, on a connection of
its own, runs ``PRAGMA wal_checkpoint(PASSIVE)`` after commits (never blocking the
writer or readers). Should it fall behind (a reader pinning an old snapshot, a slow
disk), the writer checkpoints inline once the WAL passes ``hard_limit_bytes``, so the
WAL stays bounded as before.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)
# Checkpoint once this much WAL has accumulated (SQLite's default is 1000 pages).
SOFT_LIMIT_BYTES = 4 << 20
HARD_LIMIT_BYTES = 256 << 20


class Checkpointer:
    """``nudge()`` after each commit; ``close()`` checkpoints everything and stops."""

    def __init__(
        self,
        path: Path,
        *,
        soft_limit_bytes: int = SOFT_LIMIT_BYTES,
        poll_s: float = 1.0,
        busy_ms: int = 5000,
    ) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.soft_limit_bytes = soft_limit_bytes
        self.poll_s = poll_s
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        # A checkpoint under FULL fsyncs the database file before the WAL is reused.
        self._conn.execute("PRAGMA synchronous = FULL")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.checkpoints = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def wal_bytes(self) -> int:
        try:
            return os.stat(self.wal).st_size
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self.wal_bytes() >= self.soft_limit_bytes:
                self.checkpoint("PASSIVE")

    def checkpoint(self, mode: str = "PASSIVE") -> bool:
        """One checkpoint; False if it could not finish (busy, failing disk): the WAL
        keeps the data, and the next one tries again."""
        try:
            row = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            row, why = None, str(exc)
        else:
            why = "busy"
        if row is None or row[0]:
            self.failures += 1
            log.debug("checkpoint of %s did not finish: %s", self.path, why)
            return False
        self.checkpoints += 1
        return True

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.checkpoint("TRUNCATE")
        self._conn.close()
