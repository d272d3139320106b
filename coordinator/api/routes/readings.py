"""``GET /api/v1/readings``: stored readings by sensor, agent and time, oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from edgewatch.coordinator.api.deps import StoreDep
from edgewatch.coordinator.store import ReadingQuery
from edgewatch.coordinator.store.base import MAX_QUERY_LIMIT
from edgewatch.shared.schemas import Result

router = APIRouter(prefix="/readings", tags=["readings"])


@router.get("")
def list_readings(
    store: StoreDep,
    sensor_id: Annotated[str | None, Query(max_length=128)] = None,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(description="ts >= since (epoch seconds)")] = None,
    until: Annotated[float | None, Query(description="ts < until (epoch seconds)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 1000,
) -> list[Result]:
    query = ReadingQuery(
        sensor_id=sensor_id, agent_id=agent_id, since=since, until=until, limit=limit
    )
    return store.readings(query)
