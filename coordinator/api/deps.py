"""Dependencies of the API routes, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edgewatch.coordinator.errors import AuthError
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import Store

_bearer = HTTPBearer(auto_error=False, description="the coordinator's API token")


def get_service(request: Request) -> CoordinatorService:
    service: CoordinatorService = request.app.state.service
    return service


def get_store(service: Annotated[CoordinatorService, Depends(get_service)]) -> Store:
    return service.store


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse requests without the API token (compared in constant time)."""
    if credentials is None:
        raise AuthError("missing bearer token")
    expected: str = request.app.state.api_token
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise AuthError("wrong bearer token")


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
Authenticated = Depends(require_token)
