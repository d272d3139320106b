"""Dependencies of the API routes, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
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


ServiceDep = Annotated[CoordinatorService, Depends(get_service)]
StoreDep = Annotated[Store, Depends(get_store)]
Authenticated = Depends(require_token)
