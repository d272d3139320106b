"""Enrollments, API tokens and the audit log on PostgreSQL (``store.contract``'s
``EnrollmentStore``, ``TokenStore`` and ``AuditStore``), with SQLite's semantics.

SQLite serialises every write behind one lock; here transactions of this process's
threads and of other replicas run at once, so each rule is one statement that decides
and writes under the row lock it takes (never a read, then a write):

* ``enroll``: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE revoked``: an identity is
  recorded once; two replicas enrolling it together get one True and one False.
* revocations: ``UPDATE ... WHERE revoked_at IS NULL RETURNING``: the second of two
  concurrent revokers waits for the first, re-reads the row, finds it revoked: False.
* ``add_audit``: appends take a transaction-scoped advisory lock (``AUDIT_LOCK``), so
  ids are handed out and committed in one order; see ``add_audit``.

Tokens are stored by digest only; nothing here logs a digest, and the errors of calls
that carry one are raised without the database error they came from (``PgSecurity``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.errors import StoreError, WriteRefused
from edgewatch.coordinator.store.postgres.concern import PgConcern
from edgewatch.coordinator.store.security_records import ApiToken, AuditEntry, Enrollment
from edgewatch.coordinator.store.sqlite.security import _ENROLLMENT, _TOKEN, _enrollment, _token

T = TypeVar("T")
# pg_advisory_xact_lock key of audit appends (any constant shared by all replicas).
AUDIT_LOCK = 0x65645F6175646974  # "ed_audit"

_ENROLLMENT_COLUMNS = tuple(c.strip() for c in _ENROLLMENT.split(","))
_ENROLLMENT_VALUES = ", ".join(f":{c}" for c in _ENROLLMENT_COLUMNS)
# Every column but the key: a revoked enrollment is replaced whole, as SQLite's
# INSERT OR REPLACE does.
_ENROLLMENT_REPLACE = ", ".join(
    f"{c} = excluded.{c}" for c in _ENROLLMENT_COLUMNS if c != "identity"
)


def enroll(conn: Connection, r: Enrollment) -> bool:
    """Record ``r``; False (nothing written) if its identity is enrolled and not revoked."""
    row = conn.execute(
        sa.text(
            f"INSERT INTO enrollments ({_ENROLLMENT}) VALUES ({_ENROLLMENT_VALUES}) "
            f"ON CONFLICT (identity) DO UPDATE SET {_ENROLLMENT_REPLACE} "
            # Evaluated on the row as last committed, under its lock: an active
            # enrollment is never replaced, whoever else is enrolling it right now.
            "WHERE enrollments.revoked_at IS NOT NULL "
            "RETURNING identity"
        ),
        {
            "identity": r.identity,
            "role": r.role,
            "username": r.username,
            "client_id": r.client_id,
            "tier": r.tier,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "enrolled_at": r.enrolled_at,
            "enrolled_by": r.enrolled_by,
            "revoked_at": r.revoked_at,
            "revoked_by": r.revoked_by,
        },
    ).first()
    return row is not None


def enrollment(conn: Connection, identity: str) -> Enrollment | None:
    row = conn.execute(
        sa.text(f"SELECT {_ENROLLMENT} FROM enrollments WHERE identity = :i"), {"i": identity}
    ).first()
    return None if row is None else _enrollment(row._mapping)


def enrollments(conn: Connection) -> list[Enrollment]:
    rows = conn.execute(sa.text(f"SELECT {_ENROLLMENT} FROM enrollments ORDER BY identity"))
    return [_enrollment(r._mapping) for r in rows]


def revoke_enrollment(conn: Connection, identity: str, at: float, by: str) -> bool:
    """Mark it revoked; False if there is no active enrollment of ``identity``."""
    row = conn.execute(
        sa.text(
            "UPDATE enrollments SET revoked_at = :at, revoked_by = :by "
            "WHERE identity = :i AND revoked_at IS NULL RETURNING identity"
        ),
        {"at": at, "by": by, "i": identity},
    ).first()
    return row is not None


def add_token(conn: Connection, t: ApiToken, digest: str) -> None:
    """Store ``t`` under ``digest``; ``WriteRefused`` if its id or digest is taken."""
    # DO NOTHING rather than a unique violation: the violation's message would carry
    # the digest ("Key (digest)=(...) already exists").
    row = conn.execute(
        sa.text(
            f"INSERT INTO api_tokens (digest, {_TOKEN}) "
            "VALUES (:digest, :token_id, :name, :scope, :created_at, :created_by, :revoked_at) "
            "ON CONFLICT DO NOTHING RETURNING token_id"
        ),
        {
            "digest": digest,
            "token_id": t.token_id,
            "name": t.name,
            "scope": t.scope,
            "created_at": t.created_at,
            "created_by": t.created_by,
            "revoked_at": t.revoked_at,
        },
    ).first()
    if row is None:
        raise WriteRefused(f"write refused: token {t.token_id!r} or its digest is already stored")


def token_by_digest(conn: Connection, digest: str) -> ApiToken | None:
    row = conn.execute(
        sa.text(f"SELECT {_TOKEN} FROM api_tokens WHERE digest = :d"), {"d": digest}
    ).first()
    return None if row is None else _token(row._mapping)


def tokens(conn: Connection) -> list[ApiToken]:
    # token_id breaks ties of created_at, so the order is the same on every call.
    rows = conn.execute(sa.text(f"SELECT {_TOKEN} FROM api_tokens ORDER BY created_at, token_id"))
    return [_token(r._mapping) for r in rows]


def revoke_token(conn: Connection, token_id: str, at: float) -> bool:
    """False if there is no active token ``token_id``."""
    row = conn.execute(
        sa.text(
            "UPDATE api_tokens SET revoked_at = :at "
            "WHERE token_id = :t AND revoked_at IS NULL RETURNING token_id"
        ),
        {"at": at, "t": token_id},
    ).first()
    return row is not None


def add_audit(conn: Connection, e: AuditEntry) -> int:
    """Append ``e``; its id. Call it in a transaction of its own (the lock is held to the end).

    Readers page with ``id > after``, which SQLite's single writer makes exact. A
    sequence alone does not: two transactions may draw ids 7 and 8 and commit 8 first,
    so a reader that saw 8 pages past 7 for good. The advisory lock, taken before the id
    is drawn and released only after the commit is visible, makes appends draw and
    commit in one order: once an id is visible, every smaller committed id is too. A
    rolled-back append leaves a gap, never a late arrival. Appends are rare (admin
    actions), so serialising them costs nothing that matters.
    """
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    entry_id = conn.execute(
        sa.text(
            "INSERT INTO audit_log (at, actor, action, target, source, outcome) "
            "VALUES (:at, :actor, :action, :target, :source, :outcome) RETURNING id"
        ),
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "source": e.source,
            "outcome": e.outcome,
        },
    ).scalar_one()
    return int(entry_id)


def audit_entries(conn: Connection, after: int, limit: int) -> list[AuditEntry]:
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor, action, target, source, outcome FROM audit_log "
            "WHERE id > :after ORDER BY id LIMIT :n"
        ),
        {"after": after, "n": limit},
    )
    return [
        AuditEntry(
            entry_id=int(r.id),
            at=float(r.at),
            actor=r.actor,
            action=r.action,
            target=r.target,
            source=r.source,
            outcome=r.outcome,
        )
        for r in rows
    ]


@contextmanager
def _no_digest_in_errors() -> Iterator[None]:
    """Re-raise a ``StoreError`` without its cause: SQLAlchemy's error of a failed
    statement renders its parameters (here a token digest) in tracebacks and logs."""
    try:
        yield
    except StoreError as exc:
        raise type(exc)(str(exc)) from None


class PgSecurity(PgConcern):
    """``EnrollmentStore``, ``TokenStore`` and ``AuditStore`` for ``PostgresStore``."""

    def enroll(self, record: Enrollment) -> bool:
        with self._transaction() as conn:
            return enroll(conn, record)

    def enrollment(self, identity: str) -> Enrollment | None:
        return self._read(lambda c: enrollment(c, identity))

    def enrollments(self) -> list[Enrollment]:
        return self._read(enrollments)

    def revoke_enrollment(self, identity: str, at: float, by: str) -> bool:
        with self._transaction() as conn:
            return revoke_enrollment(conn, identity, at, by)

    def add_token(self, token: ApiToken, digest: str) -> None:
        with _no_digest_in_errors(), self._transaction() as conn:
            add_token(conn, token, digest)

    def token_by_digest(self, digest: str) -> ApiToken | None:
        with _no_digest_in_errors():
            return self._read(lambda c: token_by_digest(c, digest))

    def tokens(self) -> list[ApiToken]:
        return self._read(tokens)

    def revoke_token(self, token_id: str, at: float) -> bool:
        with self._transaction() as conn:
            return revoke_token(conn, token_id, at)

    def add_audit(self, entry: AuditEntry) -> int:
        with self._transaction("audit") as conn:
            return add_audit(conn, entry)

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        return self._read(lambda c: audit_entries(c, after, limit))
