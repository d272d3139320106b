"""Where the session key lives and how a request's session is found.

The key is kept in the store (``dashboard.session_key``), generated at first use: one
key for every replica that shares the store, and sessions that outlive a restart.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from fastapi import Request, Response

from edgewatch.coordinator.dashboard.session import (
    DEFAULT_MAX_AGE_S,
    SESSION_COOKIE,
    Identity,
    Session,
    SessionCodec,
    TokenVerifier,
    new_session_key,
)
from edgewatch.coordinator.store import PlanStore
from edgewatch.shared.clock import SYSTEM, Clock

KEY_NAME = "dashboard.session_key"


class SessionKeeper:
    def __init__(
        self, *, max_age_s: int = DEFAULT_MAX_AGE_S, secure: bool = False, clock: Clock = SYSTEM
    ) -> None:
        self.max_age_s = max_age_s
        self.clock = clock
        # Set the cookie's Secure flag when the API is served over HTTPS (a TLS proxy).
        self.secure = secure
        self._codec: SessionCodec | None = None
        self._lock = threading.Lock()

    def codec(self, store: PlanStore) -> SessionCodec:
        with self._lock:
            if self._codec is None:
                self._codec = SessionCodec(_key(store), max_age_s=self.max_age_s, clock=self.clock)
            return self._codec

    def current(
        self, request: Request, verifier: TokenVerifier, store: PlanStore
    ) -> Session | None:
        """The request's session, if its cookie is genuine, unexpired and its token valid."""
        session = self.codec(store).read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        identity = verifier.still_valid(session.identity.id)
        if identity is None:
            return None  # the token was revoked or rotated: so are its sessions
        return replace(session, identity=identity)

    def open(self, response: Response, identity: Identity, store: PlanStore) -> Session:
        value, session = self.codec(store).issue(identity)
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=self.max_age_s,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )
        return session

    def close(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="strict", secure=self.secure, path="/"
        )


def _key(store: PlanStore) -> bytes:
    found = store.fleet_meta(KEY_NAME)
    if found is None:
        store.set_fleet_meta(KEY_NAME, new_session_key().hex())
        found = store.fleet_meta(KEY_NAME)
    assert found is not None
    return bytes.fromhex(found)
