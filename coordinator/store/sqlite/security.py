"""Enrollments, API tokens and the audit log on SQLite (``store.contract``'s
``EnrollmentStore``, ``TokenStore`` and ``AuditStore``)."""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

from edgewatch.coordinator.store.security_records import ApiToken, AuditEntry, Enrollment

_ENROLLMENT = (
    "identity, role, username, client_id, tier, latitude, longitude, enrolled_at, enrolled_by,"
    " revoked_at, revoked_by"
)
_TOKEN = "token_id, name, scope, created_at, created_by, revoked_at"


class NamedRow(Protocol):
    """A row read by column name: ``sqlite3.Row``, or SQLAlchemy's ``RowMapping`` (the
    PostgreSQL store builds its records with the functions below too)."""

    def __getitem__(self, key: str, /) -> Any: ...


def _enrollment(row: NamedRow) -> Enrollment:
    return Enrollment(
        identity=row["identity"],
        role=row["role"],
        username=row["username"],
        client_id=row["client_id"],
        tier=row["tier"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        enrolled_at=float(row["enrolled_at"]),
        enrolled_by=row["enrolled_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )


def enroll(cur: sqlite3.Cursor, r: Enrollment) -> bool:
    row = cur.execute(
        "SELECT revoked_at FROM enrollments WHERE identity = ?", (r.identity,)
    ).fetchone()
    if row is not None and row[0] is None:
        return False
    cur.execute(
        f"INSERT OR REPLACE INTO enrollments ({_ENROLLMENT}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            r.identity,
            r.role,
            r.username,
            r.client_id,
            r.tier,
            r.latitude,
            r.longitude,
            r.enrolled_at,
            r.enrolled_by,
            r.revoked_at,
            r.revoked_by,
        ),
    )
    return True


def enrollment(conn: sqlite3.Connection, identity: str) -> Enrollment | None:
    row = conn.execute(
        f"SELECT {_ENROLLMENT} FROM enrollments WHERE identity = ?", (identity,)
    ).fetchone()
    return None if row is None else _enrollment(row)


def enrollments(conn: sqlite3.Connection) -> list[Enrollment]:
    rows = conn.execute(f"SELECT {_ENROLLMENT} FROM enrollments ORDER BY identity")
    return [_enrollment(r) for r in rows]


def revoke_enrollment(cur: sqlite3.Cursor, identity: str, at: float, by: str) -> bool:
    cur.execute(
        "UPDATE enrollments SET revoked_at = ?, revoked_by = ? "
        "WHERE identity = ? AND revoked_at IS NULL",
        (at, by, identity),
    )
    return cur.rowcount == 1


def _token(row: NamedRow) -> ApiToken:
    return ApiToken(
        token_id=row["token_id"],
        name=row["name"],
        scope=row["scope"],
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


def add_token(cur: sqlite3.Cursor, t: ApiToken, digest: str) -> None:
    cur.execute(
        f"INSERT INTO api_tokens (digest, {_TOKEN}) VALUES (?,?,?,?,?,?,?)",
        (digest, t.token_id, t.name, t.scope, t.created_at, t.created_by, t.revoked_at),
    )


def token_by_digest(conn: sqlite3.Connection, digest: str) -> ApiToken | None:
    row = conn.execute(f"SELECT {_TOKEN} FROM api_tokens WHERE digest = ?", (digest,)).fetchone()
    return None if row is None else _token(row)


def tokens(conn: sqlite3.Connection) -> list[ApiToken]:
    return [_token(r) for r in conn.execute(f"SELECT {_TOKEN} FROM api_tokens ORDER BY created_at")]


def revoke_token(cur: sqlite3.Cursor, token_id: str, at: float) -> bool:
    cur.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
        (at, token_id),
    )
    return cur.rowcount == 1


def add_audit(cur: sqlite3.Cursor, e: AuditEntry) -> int:
    cur.execute(
        "INSERT INTO audit_log (at, actor, action, target, source, outcome) VALUES (?,?,?,?,?,?)",
        (e.at, e.actor, e.action, e.target, e.source, e.outcome),
    )
    return int(cur.lastrowid or 0)


def audit_entries(conn: sqlite3.Connection, after: int, limit: int) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT id, at, actor, action, target, source, outcome FROM audit_log "
        "WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )
    return [
        AuditEntry(
            entry_id=int(r["id"]),
            at=float(r["at"]),
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            source=r["source"],
            outcome=r["outcome"],
        )
        for r in rows
    ]
