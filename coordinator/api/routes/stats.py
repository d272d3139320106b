"""``GET /api/v1/stats``: ingest counters, fleet-wide and per agent (see ``coordinator.stats``)."""

from __future__ import annotations

from fastapi import APIRouter

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.coordinator.stats import StatsOut, build_stats

router = APIRouter(tags=["stats"])


@router.get("/stats")
def stats(service: ServiceDep) -> StatsOut:
    return build_stats(service.store.counters(), service.live(), service.fleet.online())
