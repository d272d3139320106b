"""The coordinator's HTTP face: ``create_app(settings)`` builds the FastAPI app.

The lifespan owns a ``CoordinatorService`` (embedded broker when configured, MQTT link,
ingest worker, store) and stops it cleanly on shutdown. Domain errors become HTTP
statuses here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edgewatch.coordinator.api.allow import AllowHeader
from edgewatch.coordinator.api.auth import AuthGuard, QueryTokenGuard
from edgewatch.coordinator.api.deps import Authenticated, reject_unknown_query
from edgewatch.coordinator.api.routes import api_router
from edgewatch.coordinator.dashboard import routes as dashboard_routes
from edgewatch.coordinator.dashboard.hub import DashboardMetrics
from edgewatch.coordinator.dashboard.keeper import SessionKeeper
from edgewatch.coordinator.dashboard.live import Dashboard
from edgewatch.coordinator.errors import (
    AuthError,
    BadRequestError,
    CoordinatorError,
    ForbiddenError,
    NotFoundError,
    StoreError,
)
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.models.errors import Conflict, NotEnoughData, Refused
from edgewatch.coordinator.security import logfilter
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.settings import CoordinatorSettings, ensure_api_token
from edgewatch.shared import __version__
from edgewatch.shared.clock import SYSTEM, Clock

_STATUS: tuple[tuple[type[CoordinatorError], int], ...] = (
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (StoreError, 503),
    (NotEnoughData, 422),
    (Refused, 422),
    (Conflict, 409),
)


def create_app(settings: CoordinatorSettings, *, clock: Clock = SYSTEM) -> FastAPI:
    """The app; the service starts with the lifespan (i.e. when the server starts).

    ``clock`` times the failed-login window (tests pass a ``ManualClock``).
    """
    metrics = CoordinatorMetrics(CollectorRegistry())
    dashboard_metrics = DashboardMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = CoordinatorService(settings, metrics=metrics)
        app.state.service = service
        try:
            # Starting the broker and the link blocks briefly: keep it off the event loop.
            await asyncio.to_thread(service.start)
        except BaseException:
            # Half started (the broker's port taken, say): close the store and whatever
            # did start, then fail; the server that runs us reports the error.
            await asyncio.to_thread(service.stop)
            raise
        dashboard = Dashboard(service, dashboard_metrics)
        app.state.hub = dashboard.hub
        dashboard.start()
        try:
            yield
        finally:
            await dashboard.stop()
            await asyncio.to_thread(service.stop)

    app = FastAPI(
        title="edgewatch coordinator",
        version=__version__,
        lifespan=lifespan,
        description="Ingest, store and fleet of edgewatch. Bearer token on all data routes.",
    )
    app.state.api_token = ensure_api_token(settings)
    app.state.sessions = SessionKeeper()
    app.state.metrics = metrics
    app.state.dashboard_metrics = dashboard_metrics
    guard = AuthGuard(
        app.state.api_token, metrics.registry, fail_limit=settings.auth_fail_limit, clock=clock
    )
    app.state.auth = guard
    logfilter.install(app.state.api_token)  # no token ever reaches the access log
    app.include_router(api_router)
    app.include_router(dashboard_routes.router)
    app.include_router(dashboard_routes.api, dependencies=[Depends(reject_unknown_query)])
    app.add_exception_handler(CoordinatorError, _error_response)  # type: ignore[arg-type]
    app.add_api_route(
        "/metrics",
        _metrics_endpoint(metrics),
        include_in_schema=False,
        dependencies=[] if settings.metrics_open else [Authenticated],
    )
    app.add_middleware(AllowHeader, routes=app.routes)
    app.add_middleware(QueryTokenGuard, guard=guard)  # outermost: before anything logs the URL
    return app


async def _error_response(request: Request, exc: CoordinatorError) -> JSONResponse:
    if isinstance(exc, BadRequestError):
        # The shape of FastAPI's own validation errors, so clients parse one format.
        where = ["query", exc.parameter]
        detail = [{"loc": where, "msg": exc.detail, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def _metrics_endpoint(metrics: CoordinatorMetrics) -> Callable[[], Response]:
    # Behind a read token unless --metrics-open: the figures name agents and rates.
    def metrics_view() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics_view


__all__ = ["create_app"]
