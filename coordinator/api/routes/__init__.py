"""One router per resource; everything but ``health`` needs the bearer token."""

from fastapi import APIRouter

from edgewatch.coordinator.api.deps import Authenticated
from edgewatch.coordinator.api.routes import agents, health, readings, stats

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(health.router)
api_router.include_router(agents.router, dependencies=[Authenticated])
api_router.include_router(readings.router, dependencies=[Authenticated])
api_router.include_router(stats.router, dependencies=[Authenticated])

__all__ = ["api_router"]
