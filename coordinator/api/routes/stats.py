"""``GET /api/v1/stats``: ingest counters, fleet-wide and per agent (see ``coordinator.stats``)."""

from __future__ import annotations

from fastapi import APIRouter

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.coordinator.rescoring.agreement import split
from edgewatch.coordinator.stats import StatsOut, build_stats

router = APIRouter(tags=["stats"])


@router.get("/stats")
def stats(service: ServiceDep) -> StatsOut:
    store = service.store
    scoring = split(store.verdict_totals())
    return build_stats(store.counters(), service.live(), service.fleet.online(), scoring)
