"""One router per resource; everything but ``health`` needs the bearer token.

Every route refuses query parameters it does not declare (``reject_unknown_query``).
"""

from fastapi import APIRouter, Depends

from edgewatch.coordinator.api.deps import Authenticated, reject_unknown_query
from edgewatch.coordinator.api.routes import (
    agents,
    assignments,
    health,
    keys,
    models,
    readings,
    rescoring,
    rollouts,
    sensors,
    stats,
)

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(reject_unknown_query)])
api_router.include_router(health.router)
api_router.include_router(agents.router, dependencies=[Authenticated])
api_router.include_router(readings.router, dependencies=[Authenticated])
api_router.include_router(stats.router, dependencies=[Authenticated])
api_router.include_router(sensors.router, dependencies=[Authenticated])
api_router.include_router(assignments.router, dependencies=[Authenticated])
api_router.include_router(models.router, dependencies=[Authenticated])
api_router.include_router(rollouts.router, dependencies=[Authenticated])
api_router.include_router(keys.router, dependencies=[Authenticated])
api_router.include_router(rescoring.router, dependencies=[Authenticated])

__all__ = ["api_router"]
