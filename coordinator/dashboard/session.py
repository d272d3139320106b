"""Dashboard sessions: an API token exchanged once for a signed, expiring cookie.

A person logs in with an API token; the page then rides on a cookie, so no token ever
sits in a URL (the live stream is an ``EventSource``, which cannot send headers). The
cookie is ``HttpOnly`` (page scripts cannot read it), ``SameSite=Strict`` (other sites'
pages never send it) and expires. It holds no token, only who logged in (the token's
identity), the scope, a CSRF secret and when it was issued, signed with a key kept in
the store, so sessions survive a coordinator restart and are valid on every replica.

Every request re-checks the identity (``TokenVerifier.still_valid``), so revoking a
token ends its sessions at once. State-changing requests made with the cookie must
also carry the session's CSRF secret in ``X-CSRF-Token``, which only our own page can
read (from ``GET /dashboard/session``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from itsdangerous import BadSignature, URLSafeSerializer

from edgewatch.shared.clock import SYSTEM, Clock

SESSION_COOKIE = "edgewatch_session"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_MAX_AGE_S = 8 * 3600
Scope = Literal["read", "admin"]


@dataclass(frozen=True)
class Identity:
    """Who a token belongs to: a stable id (never the token itself), its scope, the name
    the audit log shows, and the stored token's id (None for ``--api-token``)."""

    id: str
    scope: Scope
    name: str = ""
    token_id: str | None = None


class TokenVerifier(Protocol):
    """Checks API tokens: the API's bearer check and the dashboard's login share it."""

    def verify(self, token: str) -> Identity | None:
        """The identity ``token`` stands for, or None (compared in constant time)."""
        ...

    def still_valid(self, identity_id: str) -> Identity | None:
        """The identity as it stands now (None once revoked)."""
        ...


@dataclass(frozen=True)
class Session:
    identity: Identity
    csrf: str
    issued_at: float

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class SessionCodec:
    """Signs and reads session cookies; ``key`` must be secret and shared by replicas.

    The expiry is in the signed payload and checked against ``clock`` (not the signer's
    own timestamp), so tests move time instead of waiting.
    """

    def __init__(
        self, key: bytes, *, max_age_s: int = DEFAULT_MAX_AGE_S, clock: Clock = SYSTEM
    ) -> None:
        if len(key) < 32:
            raise ValueError("a session key needs at least 32 bytes")
        self.max_age_s = max_age_s
        self.clock = clock
        self._serializer = URLSafeSerializer(key, salt="edgewatch.dashboard.session")

    def issue(self, identity: Identity) -> tuple[str, Session]:
        now = self.clock.time()
        session = Session(identity, secrets.token_urlsafe(24), now)
        value = self._serializer.dumps(
            {"sub": identity.id, "scope": identity.scope, "csrf": session.csrf, "iat": now}
        )  # the name and token id are looked up again at every request (still_valid)
        return value, session

    def read(self, value: str | None) -> Session | None:
        """The session in a cookie value: None when absent, tampered with or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value)
        except BadSignature:
            return None
        try:
            scope = data["scope"]
            issued = float(data["iat"])
            session = Session(Identity(str(data["sub"]), scope), str(data["csrf"]), issued)
        except (KeyError, TypeError, ValueError):
            return None
        if scope not in ("read", "admin"):
            return None
        if not 0 <= self.clock.time() - issued < self.max_age_s:
            return None  # expired (or issued in the future: a clock gone wrong)
        return session


def new_session_key() -> bytes:
    return secrets.token_bytes(32)
