"""A role held through a PostgreSQL advisory lock on a live session.

The lock (``pg_try_advisory_lock``, session level) is held by one dedicated connection.
Whoever holds the session holds the role; the server frees the lock the moment the
session ends. Sessions end when:

* the holder exits or is killed: its socket closes, at once;
* the holder **stalls** (SIGSTOP, a frozen VM): its kernel still answers TCP, so the
  session would live for ever, holding the lock. ``idle_session_timeout`` (PostgreSQL
  14+) is set to ``ttl_s`` on this session only: the holder confirms (a query) every
  ``ttl_s / 3``; one that stops confirming is disconnected by the server ``ttl_s``
  after its last query, and another replica takes the lock;
* the link or the server fails: the holder's next confirmation fails.

``holds()`` is false from ``ttl_s`` after the last confirmation *began* (``Tenure``),
never later than the server could free the lock, so a holder that wakes from a stall
knows before it acts. Not for PgBouncer in transaction mode: session state does not
survive it (connect replicas to PostgreSQL directly, or a session-mode pool).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from typing import Any

import psycopg

from edgewatch.coordinator.cluster.leadership import Tenure
from edgewatch.coordinator.store.postgres.engine import engine_url
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.redact import redact

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for role ``name``."""
    digest = hashlib.blake2b(f"edgewatch:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _libpq_url(url: str) -> str:
    """``url`` as libpq takes it (no SQLAlchemy driver suffix)."""
    return engine_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgAdvisoryLeadership:
    """``Leadership`` of ``name`` among every process that uses the database at ``url``."""

    def __init__(self, url: str, name: str, *, ttl_s: float = 5.0, clock: Clock = SYSTEM) -> None:
        if ttl_s < 1.0:
            raise ValueError("ttl_s must be at least 1 s (idle_session_timeout granularity)")
        self.name = name
        self.key = lock_key(name)
        self.tenure = Tenure(ttl_s, clock)
        self._url = _libpq_url(url)
        self._where = redact(url)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @property
    def ttl_s(self) -> float:
        return self.tenure.ttl_s

    def _connect(self) -> psycopg.Connection[Any]:
        timeout_ms = int(self.ttl_s * 1000)
        return psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(2, int(self.ttl_s)),
            application_name=f"edgewatch-leader:{self.name}"[:63],
            # The server drops this session ttl_s after its last query; a send that the
            # network swallows fails after ttl_s instead of hanging.
            options=f"-c idle_session_timeout={timeout_ms} -c statement_timeout={timeout_ms}",
            tcp_user_timeout=timeout_ms,
            keepalives=1,
            keepalives_idle=max(1, int(self.ttl_s / 2)),
            keepalives_interval=1,
            keepalives_count=2,
        )

    def try_acquire(self) -> bool:
        with self._lock:
            began = self.tenure.begin()
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            except psycopg.Error as exc:
                self._drop(f"cannot ask {self._where} for {self.name}: {exc}")
                return False
            if row is not None and row[0]:
                self.tenure.confirmed(began)
                return True
            return False

    def confirm(self) -> bool:
        with self._lock:
            if self._conn is None or not self.tenure.valid():
                self._drop(None)
                return False
            began = self.tenure.begin()
            try:
                row = self._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                    "AND ((classid::bigint << 32) | objid::bigint) = %s",
                    (self.key,),
                ).fetchone()
            except psycopg.Error as exc:
                self._drop(f"lost {self.name}: {exc}")
                return False
            if row is None or not row[0]:
                self._drop(f"lost {self.name}: the lock is gone")
                return False
            self.tenure.confirmed(began)
            return True

    def holds(self) -> bool:
        return self.tenure.valid()

    def release(self) -> None:
        with self._lock:
            if self._conn is not None and not self._conn.closed and self.tenure.valid():
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                except psycopg.Error:
                    log.debug("unlock of %s failed; closing the session frees it", self.name)
            self._drop(None)

    def _drop(self, why: str | None) -> None:
        """Forget the session (closing it frees the lock, if the server still had it)."""
        self.tenure.lost()
        if why:
            log.warning("%s", why)
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
