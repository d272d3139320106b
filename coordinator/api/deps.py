"""Dependencies of the API routes, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edgewatch.coordinator.api.auth import SAFE_METHODS, AuthGuard, audit, client_address
from edgewatch.coordinator.errors import AuthError, BadRequestError, NotFoundError
from edgewatch.coordinator.security.tokens import Principal, resolve
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import Store

_bearer = HTTPBearer(auto_error=False, description="an API token (edgewatch tokens create)")


def get_service(request: Request) -> CoordinatorService:
    service: CoordinatorService = request.app.state.service
    return service


def get_store(service: Annotated[CoordinatorService, Depends(get_service)]) -> Store:
    return service.store


def _guard(request: Request) -> AuthGuard:
    guard: AuthGuard = request.app.state.auth
    return guard


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    store: Annotated[Store, Depends(get_store)],
) -> Iterator[Principal]:
    """The caller, if its token is good and strong enough for the request's method
    (``api.auth`` explains the rules); a state change is written to the audit log with
    how it ended."""
    guard, address = _guard(request), client_address(request)
    wait = guard.failures.retry_after(address)
    if wait is not None:
        guard.failed.labels(reason="throttled").inc()
        raise HTTPException(
            429,
            "too many failed attempts from this address; try again later",
            headers={"Retry-After": str(int(wait + 0.999))},
        )
    if credentials is None:
        guard.fail(address, "missing_token")
        raise AuthError("missing bearer token")
    principal = resolve(store, guard.configured, credentials.credentials)
    if principal is None:
        guard.fail(address, "wrong_token")
        raise AuthError("wrong bearer token")
    if request.method in SAFE_METHODS:
        yield principal
        return
    action = f"{request.method} {request.url.path}"
    if not principal.allows("admin"):
        guard.fail(address, "insufficient_scope")
        audit(store, principal, action, address, "403")
        raise HTTPException(403, "this needs a token with the admin scope")
    route = request.scope.get("route")
    outcome = str(route.status_code or 200) if isinstance(route, APIRoute) else "200"
    try:
        yield principal
    except HTTPException as exc:
        outcome = str(exc.status_code)
        raise
    except (RequestValidationError, BadRequestError):
        outcome = "422"
        raise
    except NotFoundError:
        outcome = "404"
        raise
    except Exception as exc:
        outcome = f"failed: {type(exc).__name__}"
        raise
    finally:
        audit(store, principal, action, address, outcome)


def require_admin(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """``authenticate``, and the ``admin`` scope even for reading (the audit log)."""
    if not principal.allows("admin"):
        _guard(request).fail(client_address(request), "insufficient_scope")
        raise HTTPException(403, "this needs a token with the admin scope")
    return principal


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
Authenticated = Depends(authenticate)
AdminOnly = Depends(require_admin)
PrincipalDep = Annotated[Principal, Depends(authenticate)]
