"""One router per resource; everything but ``health`` needs a bearer token (``api.auth``:
``read`` to read, ``admin`` to change anything, and to read the audit log).

Every route refuses query parameters it does not declare (``reject_unknown_query``).
"""

from fastapi import APIRouter, Depends

from edgewatch.coordinator.api.auth import AUTH_RESPONSES
from edgewatch.coordinator.api.deps import AdminOnly, Authenticated, reject_unknown_query
from edgewatch.coordinator.api.routes import (
    agents,
    aggregates,
    alerts,
    assignments,
    audit,
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
api_router.include_router(agents.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(readings.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(stats.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(sensors.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(
    assignments.router, dependencies=[Authenticated], responses=AUTH_RESPONSES
)
api_router.include_router(audit.router, dependencies=[AdminOnly], responses=AUTH_RESPONSES)
api_router.include_router(aggregates.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(alerts.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(models.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(rollouts.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(keys.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)
api_router.include_router(rescoring.router, dependencies=[Authenticated], responses=AUTH_RESPONSES)

__all__ = ["api_router"]
