"""Records of the security concerns of a store: enrollments, API tokens, the audit log.

Kept apart from ``store.records`` (the readings side); the protocols that use them are
``EnrollmentStore``, ``TokenStore`` and ``AuditStore`` in ``store.contract``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")


@dataclass(frozen=True)
class Enrollment:
    """One identity enrolled at the site: an agent, a sensor, a coordinator replica, an
    operator. ``revoked_at`` is set once it is revoked (the row stays, for the record)."""

    identity: str
    role: str
    username: str
    client_id: str
    enrolled_at: float
    enrolled_by: str
    tier: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ApiToken:
    """An API token as stored: never the token itself, only its SHA-256 (``digest``)."""

    token_id: str
    name: str
    scope: Scope
    created_at: float
    created_by: str
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AuditEntry:
    """One admin action: who (``actor``), what (``action`` on ``target``), when, from where
    (``source``: a client address, or ``cli`` and the local user), and how it ended."""

    at: float
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    entry_id: int = 0
