"""Who may call the API: bearer tokens with a scope, failed attempts counted and slowed,
admin actions written to the audit log.

- ``api.deps.authenticate`` (every route but the health probes): a bearer token in the
  ``Authorization`` header, either ``--api-token`` (the ``admin`` token ``api-token``) or
  one made by ``edgewatch tokens create`` (looked up by its SHA-256). Reading needs
  ``read``; anything that is not GET/HEAD/OPTIONS needs ``admin`` (so a route added
  later is guarded by its method without anyone remembering to). ``require_admin``
  asks ``admin`` of a reading route too (the audit log).
- A token in the query string is refused before routing (400) and never echoed: URLs
  end up in proxy logs, browser history and our own access log.
- Failures (no token, a wrong one, a token in the URL, too weak a scope) are counted by
  reason (``edgewatch_api_auth_failures_total``); an address with ``limit`` failures in
  a minute gets 429 with ``Retry-After`` until the minute has passed.
- Every request that changes state, by an authenticated caller, goes to the audit log
  (refusals for a weak scope too): who, what, when, from where, and the status.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from edgewatch.coordinator.security.audit import record
from edgewatch.coordinator.security.tokens import TOKEN_RE, Principal
from edgewatch.coordinator.store.contract import AuditStore
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Query parameter names that can only mean a credential.
SECRET_PARAMS = frozenset(
    {"token", "access_token", "api_token", "apikey", "api_key", "bearer", "auth", "password"}
)
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # addresses remembered at once: memory stays bounded under a spray


class AuthFailures:
    """Failed attempts per client address in a sliding minute; ``limit`` of them block."""

    def __init__(self, limit: int, window_s: float = WINDOW_S, clock: Clock = SYSTEM) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._seen.get(address)
        if times is None:
            times = self._seen[address] = deque()
            while len(self._seen) > MAX_ADDRESSES:
                self._seen.popitem(last=False)
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        with self._lock:
            now = self._clock.monotonic()
            times = self._recent(address, now)
            if len(times) < self.limit:
                return None
            return max(1.0, self.window_s - (now - times[0]))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock.monotonic()
            self._recent(address, now).append(now)
            self._seen.move_to_end(address)


def audit(store: AuditStore, who: Principal, action: str, source: str, outcome: str) -> None:
    """Write one admin action to the audit log; a failure to write is logged, never raised
    (it must not turn an action that was done into an error)."""
    try:
        record(store, who.name, action, action.split(" ", 1)[-1], source, outcome)
    except Exception:
        log.exception("could not write the audit log entry for %s", action)


class AuthGuard:
    """What ``authenticate`` needs, kept on ``app.state.auth``."""

    def __init__(
        self,
        configured: str,
        registry: CollectorRegistry,
        *,
        fail_limit: int,
        clock: Clock = SYSTEM,
    ) -> None:
        self.configured = configured
        self.failures = AuthFailures(fail_limit, clock=clock)
        self.failed = Counter(
            "edgewatch_api_auth_failures",
            "API requests refused for authentication or scope, by reason",
            ["reason"],
            registry=registry,
        )
        self._warn = RateLimitedLog(log, clock=clock)

    def fail(self, address: str, reason: str) -> None:
        self.failed.labels(reason=reason).inc()
        self.failures.failed(address)
        # Never the token: the address and the reason are what an operator acts on.
        self._warn.warning(reason, "API request from %s refused: %s", address, reason)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _guard(request: Request) -> AuthGuard:
    guard: AuthGuard = request.app.state.auth
    return guard


# Declared on every guarded route, so the OpenAPI document says what a client may get.
AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "a credential in the query string (send it as a bearer token)"},
    401: {"description": "no bearer token, or not one this coordinator knows"},
    403: {"description": "the token's scope is too weak (read on an admin route)"},
    422: {"description": "a parameter is malformed or unknown"},
    429: {"description": "too many failed attempts from this address (Retry-After)"},
}


class QueryTokenGuard:
    """ASGI middleware: a request carrying a credential in its query string ends here.

    400 before routing, so no handler, error message or access log repeats it. Counted
    as a failed attempt of the caller's address.
    """

    def __init__(self, app: ASGIApp, guard: AuthGuard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._carries_token(scope.get("query_string", b"")):
            client = scope.get("client")
            self.guard.fail(client[0] if client else "?", "token_in_query")
            response = JSONResponse(
                {"detail": "credentials go in the Authorization header, never in the URL"},
                status_code=400,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _carries_token(self, raw: bytes) -> bool:
        if not raw:
            return False
        text = raw.decode("latin-1")
        for name, value in parse_qsl(text, keep_blank_values=True):
            if name.lower() in SECRET_PARAMS or TOKEN_RE.search(value):
                return True
            if len(value) >= 16 and value == self.guard.configured:
                return True
        return False
