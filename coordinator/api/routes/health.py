"""``GET /api/v1/health``: liveness for load balancers and people (no auth, no data)."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.shared import __version__

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    broker_connected: bool
    broker: str
    mqtt_protocol: Literal["5", "3.1.1"] | None
    db_ok: bool
    uptime_s: float
    version: str


@router.get("/health")
def health(service: ServiceDep) -> HealthOut:
    db_ok = service.store.ping()
    connected = service.connected
    return HealthOut(
        status="ok" if db_ok and connected else "degraded",
        broker_connected=connected,
        broker=service.broker_url,
        mqtt_protocol=service.protocol,
        db_ok=db_ok,
        uptime_s=round(time.time() - service.started_at, 3),
        version=__version__,
    )
