"""Which tokens open the API: one verifier for the bearer check and dashboard sign-in.

Tokens are ``--api-token`` (the ``admin`` token named ``api-token``) and those made with
``edgewatch tokens create`` (``security.tokens``). An identity is what a dashboard
session keeps instead of the token: ``api-token:<fingerprint>`` for the configured one
(so a new token file ends the old one's sessions) or ``token:<id>`` for a stored one
(revoking it ends its sessions at once).
"""

from __future__ import annotations

import hashlib

from edgewatch.coordinator.dashboard.session import Identity
from edgewatch.coordinator.security.tokens import CONFIGURED, resolve
from edgewatch.coordinator.store.contract import TokenStore


class StoreTokenVerifier:
    def __init__(self, store: TokenStore, configured: str) -> None:
        self.store = store
        self.configured = configured
        fingerprint = hashlib.sha256(configured.encode()).hexdigest()[:16]
        self._configured = Identity(f"{CONFIGURED}:{fingerprint}", "admin", CONFIGURED)

    def verify(self, token: str) -> Identity | None:
        principal = resolve(self.store, self.configured, token)
        if principal is None:
            return None
        if principal.token_id is None:
            return self._configured
        return Identity(f"token:{principal.token_id}", principal.scope, principal.name,
                        principal.token_id)  # fmt: skip

    def still_valid(self, identity_id: str) -> Identity | None:
        if identity_id == self._configured.id:
            return self._configured
        kind, _, token_id = identity_id.partition(":")
        if kind != "token" or not token_id:
            return None
        for record in self.store.tokens():
            if record.token_id == token_id and record.active:
                name = f"token:{record.token_id}:{record.name}"
                return Identity(identity_id, record.scope, name, record.token_id)
        return None
