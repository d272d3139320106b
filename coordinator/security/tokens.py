"""API tokens with a scope, stored by hash: made, looked up and revoked here.

A token reads ``ewt_`` + 43 URL-safe characters (256 random bits). The prefix makes a
leaked token recognisable (log filters and secret scanners look for it); the store keeps
only its SHA-256, so a copy of the database opens nothing. ``--api-token`` (or the
generated ``api-token`` file) is still honoured: it is the ``admin`` token named
``api-token``, compared in constant time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from edgewatch.coordinator.store.contract import TokenStore
from edgewatch.coordinator.store.security_records import SCOPES, ApiToken, Scope

PREFIX = "ewt_"
TOKEN_RE = re.compile(r"\bewt_[A-Za-z0-9_-]{20,}")
CONFIGURED = "api-token"


@dataclass(frozen=True)
class Principal:
    """Who a request (or a command) acts as."""

    name: str
    scope: Scope
    token_id: str | None = None

    def allows(self, needed: Scope) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create_token(store: TokenStore, name: str, scope: Scope, by: str) -> tuple[str, ApiToken]:
    """A new token (shown once, never stored) and its record."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    token = new_token()
    record = ApiToken(
        token_id=secrets.token_hex(4),
        name=name,
        scope=scope,
        created_at=time.time(),
        created_by=by,
    )
    store.add_token(record, digest(token))
    return token, record


def resolve(store: TokenStore, configured: str, presented: str) -> Principal | None:
    """The principal ``presented`` stands for, or None (unknown, revoked)."""
    if secrets.compare_digest(presented.encode(), configured.encode()):
        return Principal(CONFIGURED, "admin")
    if not presented.startswith(PREFIX):
        return None
    record = store.token_by_digest(digest(presented))
    if record is None or not record.active:
        return None
    return Principal(f"token:{record.token_id}:{record.name}", record.scope, record.token_id)
