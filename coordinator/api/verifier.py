"""Which tokens open the API: one verifier, shared by the bearer check and dashboard login.

``StaticTokenVerifier`` holds the coordinator's one admin token (``--api-token`` or the
generated ``<db dir>/api-token``). Its identity id is a fingerprint of the token, never
the token: rotating the token (a new file, a restart) ends the old token's sessions.
"""

from __future__ import annotations

import hashlib
import hmac

from edgewatch.coordinator.dashboard.session import Identity


class StaticTokenVerifier:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        digest = hashlib.sha256(self._token).hexdigest()[:16]
        self._identity = Identity(f"api-token:{digest}", "admin")

    def verify(self, token: str) -> Identity | None:
        if hmac.compare_digest(token.encode(), self._token):
            return self._identity
        return None

    def still_valid(self, identity_id: str) -> Identity | None:
        return self._identity if identity_id == self._identity.id else None
