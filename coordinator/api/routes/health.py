"""``/api/v1/health/live`` and ``/health/ready``: probes for supervisors and load balancers.

No token, and nothing an attacker could use: no broker address, no user name, no ids.

- ``live``: the process answers HTTP (restart it if not). Always 200 while it runs.
- ``ready``: it can do its job: the broker link is up and the store answers. 200 when
  both hold, **503** otherwise (take it out of rotation, page someone), with which of
  the two is missing in the body, so a probe need not parse anything to decide.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from edgewatch.coordinator.api.deps import ServiceDep
from edgewatch.shared import __version__

router = APIRouter(prefix="/health", tags=["health"])


class LiveOut(BaseModel):
    status: Literal["ok"]
    uptime_s: float
    version: str


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    broker_connected: bool
    mqtt_protocol: Literal["5", "3.1.1"] | None
    db_ok: bool
    # Singleton duties this replica runs now (a lone coordinator runs them all).
    duties_held: list[str] = []


@router.get("/live")
def live(service: ServiceDep) -> LiveOut:
    return LiveOut(
        status="ok", uptime_s=round(time.time() - service.started_at, 3), version=__version__
    )


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(service: ServiceDep) -> JSONResponse:
    db_ok = service.store.ping()
    connected = service.connected
    body = ReadyOut(
        status="ready" if db_ok and connected else "not_ready",
        broker_connected=connected,
        mqtt_protocol=service.protocol,
        db_ok=db_ok,
        duties_held=service.duties_held(),
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)
