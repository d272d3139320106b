"""Connecting to PostgreSQL: the URL, the engine, and what a database error means.

``postgresql://user@host:5432/db`` (what operators write, and what ``--db`` takes) is
turned into SQLAlchemy's ``postgresql+psycopg://`` (psycopg 3). Every connection runs
with ``synchronous_commit = on``: the ack that follows a commit tells the agent it may
delete those readings, so a commit must be on disk (and, with synchronous standbys, on
theirs) before it returns. A server configured with ``off`` is overridden per session.

Errors are decided by SQLSTATE class, never by message text: the database failed
(connection lost, server shutting down, deadlock, out of disk) means "retry later";
the content is wrong (a value out of range, a NUL byte in a text) means "isolate it".
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from edgewatch.coordinator.errors import StoreError, StoreUnavailable, WriteRefused
from edgewatch.coordinator.store.location import POSTGRES_SCHEMES

SCHEMES = POSTGRES_SCHEMES
# SQLSTATE classes of the database's own failures (https://www.postgresql.org/docs/15/
# errcodes-appendix.html): connection (08), transaction rollback (40: serialization,
# deadlock), insufficient resources (53: disk full, out of memory), operator
# intervention (57: shutdown, admin kill), system (58: I/O), lock not available (55P03).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58", "XX"})
_TRANSIENT_CODES = frozenset({"55P03", "55006"})


def is_postgres_url(value: str) -> bool:
    return value.startswith(SCHEMES)


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for ``url`` (any of ``SCHEMES``), driver psycopg 3."""
    if not is_postgres_url(url):
        raise StoreError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://...")
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+psycopg")


def create(url: str, *, pool_size: int = 4, application_name: str = "edgewatch") -> Engine:
    """An engine whose every connection commits durably and names itself."""
    engine = sa.create_engine(
        engine_url(url),
        pool_size=pool_size,
        max_overflow=4,
        # A connection the server dropped (restart, failover) is found before use.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "application_name": application_name,
            "connect_timeout": 5,
            # Detect a dead server or a cut link within ~20 s instead of hanging.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 2,
        },
    )
    event.listen(engine, "connect", _on_connect)
    return engine


def _on_connect(dbapi_conn: Any, record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit = on")
        # Keep a stuck statement from holding ingest forever (a lock held elsewhere).
        cur.execute("SET lock_timeout = '30s'")
        # A replica SIGKILLed mid-statement: its backend notices within 2 s and rolls
        # back, instead of finishing the statement with its locks held.
        cur.execute("SET client_connection_check_interval = '2s'")
    dbapi_conn.commit()


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind ``exc`` (an SQLAlchemy or psycopg error), if it has one."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_database_failure(exc: BaseException) -> bool:
    """The database failed, not the statement: the same write may work later."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is None:
        # No SQLSTATE: the driver lost the connection or could not make one.
        return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
            isinstance(exc, sa.exc.DBAPIError) and exc.orig is None
        )
    return code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES


def translate(exc: Exception, what: str = "write") -> StoreError:
    """``StoreUnavailable`` (retry later) or ``WriteRefused`` (isolate this content)."""
    if isinstance(exc, StoreError):
        return exc
    detail = _one_line(exc)
    if isinstance(exc, sa.exc.SQLAlchemyError) and is_database_failure(exc):
        return StoreUnavailable(f"{what} failed: {detail}")
    if isinstance(exc, OSError):
        return StoreUnavailable(f"{what} failed: {detail}")
    return WriteRefused(f"{what} refused: {type(exc).__name__}: {detail}"[:300])


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
