"""Dependencies of the API routes, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edgewatch.coordinator.dashboard.keeper import SessionKeeper
from edgewatch.coordinator.dashboard.session import CSRF_HEADER, Identity, TokenVerifier
from edgewatch.coordinator.errors import AuthError, ForbiddenError
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import Store

_bearer = HTTPBearer(auto_error=False, description="the coordinator's API token")


def get_service(request: Request) -> CoordinatorService:
    service: CoordinatorService = request.app.state.service
    return service


def get_store(service: Annotated[CoordinatorService, Depends(get_service)]) -> Store:
    return service.store


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


def get_sessions(request: Request) -> SessionKeeper:
    keeper: SessionKeeper = request.app.state.sessions
    return keeper


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    verifier: Annotated[TokenVerifier, Depends(get_verifier)],
    sessions: Annotated[SessionKeeper, Depends(get_sessions)],
    store: Annotated[Store, Depends(get_store)],
) -> Identity:
    """Who is asking: a bearer token, or else the dashboard's session cookie.

    A cookie is sent by the browser on its own, so a state-changing request that rides
    on one must also carry the session's CSRF secret (only our page can read it).
    """
    if credentials is not None:
        identity = verifier.verify(credentials.credentials)
        if identity is None:
            raise AuthError("wrong bearer token")
        return identity
    session = sessions.current(request, verifier, store)
    if session is None:
        raise AuthError("missing bearer token")
    if request.method not in _SAFE_METHODS and not session.csrf_ok(
        request.headers.get(CSRF_HEADER)
    ):
        raise ForbiddenError(f"a dashboard request that changes state needs {CSRF_HEADER}")
    return session.identity


def _query_names(dependant: Dependant) -> set[str]:
    """Query parameters a route declares, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not declare.

    FastAPI ignores unknown parameters, so ``?sensor=x`` (for ``sensor_id``) would
    silently return every sensor's readings; an operator's typo must say so instead.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; this route takes {sorted(declared)}",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )


ServiceDep = Annotated[CoordinatorService, Depends(get_service)]
StoreDep = Annotated[Store, Depends(get_store)]
IdentityDep = Annotated[Identity, Depends(require_token)]
Authenticated = Depends(require_token)
