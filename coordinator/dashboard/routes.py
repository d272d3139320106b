"""The dashboard's HTTP routes: the page, its assets, login/logout and the live stream.

GET    /                       the dashboard (a session, else 303 to /login)
GET    /login                  the login page (and its two assets): all that is
                               served without a session
POST   /dashboard/session      {"token": ...} -> session cookie (204) or 401
GET    /dashboard/session      scope, CSRF secret and expiry of the current session
DELETE /dashboard/session      log out (needs the CSRF header)
GET    /dashboard/events       server-sent events: "snapshot", then "delta" each second
GET    /dashboard/assets/NAME  the page's scripts and styles (a session)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from edgewatch.coordinator.api.auth import AUTH_RESPONSES, AuthGuard, client_address
from edgewatch.coordinator.api.deps import (
    PrincipalDep,
    StoreDep,
    get_sessions,
    get_verifier,
)
from edgewatch.coordinator.dashboard.hub import Hub
from edgewatch.coordinator.dashboard.keeper import SessionKeeper
from edgewatch.coordinator.dashboard.session import CSRF_HEADER, Scope, TokenVerifier
from edgewatch.coordinator.errors import AuthError, NotFoundError

router = APIRouter(include_in_schema=False)
# Every answer a client may get is declared (the schemathesis run holds us to it).
api = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=AUTH_RESPONSES)

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8"}
_ASSETS = frozenset(
    {"app.js", "app.css", "charts.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"}
)
_PUBLIC = frozenset({"login.js", "login.css"})
# The page loads nothing from elsewhere (an air-gapped plant has no CDN) and is never
# framed; uPlot sizes its elements through the style property, which CSP allows.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SessionsDep = Annotated[SessionKeeper, Depends(get_sessions)]
VerifierDep = Annotated[TokenVerifier, Depends(get_verifier)]


def _file(name: str) -> Response:
    root = resources.files("edgewatch.coordinator.dashboard") / "static"
    body = (root / name).read_bytes()
    suffix = name[name.rfind(".") :]
    return Response(body, media_type=_TYPES[suffix], headers=_HEADERS)


@router.get("/")
def page(
    request: Request, store: StoreDep, sessions: SessionsDep, verifier: VerifierDep
) -> Response:
    if sessions.current(request, verifier, store) is None:
        return RedirectResponse("/login", status_code=303, headers=_HEADERS)
    return _file("index.html")


@router.get("/login")
def login_page() -> Response:
    return _file("login.html")


@router.get("/dashboard/public/{name}")
def public_asset(name: str) -> Response:
    if name not in _PUBLIC:
        raise NotFoundError("asset", name)
    return _file(name)


@router.get("/dashboard/assets/{name:path}")
def asset(name: str, _: PrincipalDep) -> Response:
    if name not in _ASSETS:
        raise NotFoundError("asset", name)
    return _file(name)


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=512)


class SessionOut(BaseModel):
    scope: Scope
    csrf_token: str
    csrf_header: str
    expires_at: float


@api.post(
    "/session",
    status_code=204,
    responses={401: {"description": "wrong token"}, 429: {"description": "too many failures"}},
)
def login(
    body: Annotated[Login, Body()],
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    verifier: VerifierDep,
) -> Response:
    # Refused sign-ins count with the API's failures: the same per-address throttle.
    guard: AuthGuard = request.app.state.auth
    address = client_address(request)
    wait = guard.failures.retry_after(address)
    if wait is not None:
        raise HTTPException(429, "too many failed attempts; try again later",
                            headers={"Retry-After": str(int(wait + 0.999))})  # fmt: skip
    identity = verifier.verify(body.token)
    if identity is None:
        request.app.state.dashboard_metrics.failed_logins.inc()
        guard.fail(address, "wrong_token")
        raise AuthError("wrong token")
    response = Response(status_code=204)
    sessions.open(response, identity, store)
    return response


@api.get("/session", responses={401: {"description": "no session"}})
def session_info(
    request: Request, store: StoreDep, sessions: SessionsDep, verifier: VerifierDep
) -> SessionOut:
    session = sessions.current(request, verifier, store)
    if session is None:
        raise AuthError("no session")
    return SessionOut(
        scope=session.identity.scope,
        csrf_token=session.csrf,
        csrf_header=CSRF_HEADER,
        expires_at=session.issued_at + sessions.max_age_s,
    )


@api.delete("/session", status_code=204)
def logout(_: PrincipalDep, sessions: SessionsDep) -> Response:
    response = Response(status_code=204)
    sessions.close(response)
    return response


@api.get(
    "/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "server-sent events", "content": {"text/event-stream": {}}}},
)
async def events(request: Request, _: PrincipalDep) -> EventSourceResponse:
    hub: Hub = request.app.state.hub
    client = await hub.subscribe()

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                event = await client.queue.get()
                if event is None:  # dropped for not reading: end; the page reconnects
                    return
                yield {"event": event.kind, "data": event.data}
        finally:
            hub.unsubscribe(client)

    # A page that stops reading blocks a send: give up on it after send_timeout.
    return EventSourceResponse(stream(), ping=15, send_timeout=10, headers=_HEADERS)
