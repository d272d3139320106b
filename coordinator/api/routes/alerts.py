"""``/api/v1/alerts``: list and look at alerts, acknowledge and clear them by hand;
``/api/v1/silences``: mute a rule or scope for a while."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from edgewatch.coordinator.alerts.payloads import (
    AlertOut,
    EventOut,
    SilenceOut,
    alert_out,
    event_out,
    silence_out,
)
from edgewatch.coordinator.alerts.records import AlertQuery, Severity, Silence
from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import BadRequestError, NotFoundError

router = APIRouter(tags=["alerts"])
# Ids are SQLite rowids: bounded so that an absurd one is a 422, not an overflow.
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SilenceId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class AlertsPage(BaseModel):
    alerts: list[AlertOut]


class AlertDetail(AlertOut):
    history: list[EventOut]


class ByHand(BaseModel):
    by: str = Field(default="api", max_length=64, description="who (shown in the history)")
    note: str = Field(default="", max_length=500)


class SilenceIn(BaseModel):
    rule: str | None = Field(default=None, max_length=64, description="any rule if absent")
    scope: str | None = Field(default=None, max_length=200, description="any scope if absent")
    duration_s: float = Field(gt=0, le=90 * 86_400)
    reason: str = Field(default="", max_length=500)
    by: str = Field(default="api", max_length=64)


@router.get("/alerts")
def list_alerts(
    store: StoreDep,
    state: Annotated[
        Literal["active", "open", "acknowledged", "cleared"] | None,
        Query(description="active = open or acknowledged"),
    ] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    scope: Annotated[str | None, Query(max_length=200)] = None,
    severity: Annotated[Severity | None, Query()] = None,
    since: Annotated[float | None, Query(description="updated at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AlertsPage:
    q = AlertQuery(state=state, rule=rule, scope=scope, severity=severity, since=since, limit=limit)
    return AlertsPage(alerts=[alert_out(a) for a in store.alerts(q)])


@router.get("/alerts/{alert_id}", responses={404: {"description": "no such alert"}})
def get_alert(alert_id: AlertId, store: StoreDep) -> AlertDetail:
    found = store.alert(alert_id)
    if found is None:
        raise NotFoundError("alert", str(alert_id))
    history = [event_out(e) for e in store.alert_history(alert_id)]
    return AlertDetail(**alert_out(found).model_dump(), history=history)


def _by_hand(service: ServiceDep, kind: str, alert_id: int, body: ByHand | None) -> AlertOut:
    if service.alerts is None:
        raise BadRequestError("alerts", "this coordinator runs without alerts (--no-alerts)")
    body = body or ByHand()
    done = service.alerts.engine.by_hand(kind, alert_id, body.by, body.note)
    if done is None:
        raise NotFoundError("alert", str(alert_id))
    return alert_out(done)


@router.post("/alerts/{alert_id}/ack", responses={404: {"description": "no such alert"}})
def ack(alert_id: AlertId, service: ServiceDep, body: ByHand | None = None) -> AlertOut:
    return _by_hand(service, "ack", alert_id, body)


@router.post("/alerts/{alert_id}/clear", responses={404: {"description": "no such alert"}})
def clear(alert_id: AlertId, service: ServiceDep, body: ByHand | None = None) -> AlertOut:
    return _by_hand(service, "clear", alert_id, body)


@router.get("/silences")
def list_silences(
    store: StoreDep,
    active: Annotated[bool, Query(description="only those in force now")] = True,
) -> list[SilenceOut]:
    return [silence_out(s) for s in store.silences(time.time() if active else None)]


@router.post("/silences", status_code=201)
def add_silence(body: SilenceIn, store: StoreDep, service: ServiceDep) -> SilenceOut:
    now = time.time()
    made = store.add_silence(
        Silence(0, body.rule, body.scope, now, now + body.duration_s, body.reason, body.by)
    )
    if service.alerts is not None:
        service.alerts.engine.refresh_silences()
    return silence_out(made)


@router.delete("/silences/{silence_id}", responses={404: {"description": "no such silence"}})
def end_silence(silence_id: SilenceId, store: StoreDep, service: ServiceDep) -> dict[str, bool]:
    if not store.end_silence(silence_id, time.time()):
        raise NotFoundError("silence in force", str(silence_id))
    if service.alerts is not None:
        service.alerts.engine.refresh_silences()
    return {"ended": True}
