"""Alerts as JSON: the API's, the MQTT events', the retained active set's and the
webhooks' one shape (``AlertOut``), so an operator learns it once."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from edgewatch.coordinator.alerts.records import Alert, AlertEvent, Silence, Transition

SCHEMA_VERSION: Literal[1] = 1


class AlertOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    key: str
    rule: str
    scope: str
    severity: str
    state: str
    value: float | None
    message: str
    raised_at: float
    updated_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    cleared_at: float | None
    cleared_by: str | None
    sources: list[str]
    silenced: bool


class EventOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: float
    kind: str
    actor: str
    value: float | None
    note: str


class TransitionOut(BaseModel):
    """One MQTT event / one webhook POST."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event: EventOut
    alert: AlertOut


class SilenceOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    rule: str | None
    scope: str | None
    starts_at: float
    ends_at: float
    reason: str
    created_by: str


def alert_out(a: Alert) -> AlertOut:
    return AlertOut(
        id=a.id,
        key=a.key,
        rule=a.rule,
        scope=a.scope,
        severity=a.severity,
        state=a.state,
        value=a.value,
        message=a.message,
        raised_at=a.raised_at,
        updated_at=a.updated_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
        cleared_at=a.cleared_at,
        cleared_by=a.cleared_by,
        sources=list(a.sources),
        silenced=a.silenced,
    )


def event_out(e: AlertEvent) -> EventOut:
    return EventOut(id=e.id, at=e.at, kind=e.kind, actor=e.actor, value=e.value, note=e.note)


def transition_out(t: Transition) -> TransitionOut:
    return TransitionOut(event=event_out(t.event), alert=alert_out(t.alert))


def silence_out(s: Silence) -> SilenceOut:
    return SilenceOut(
        id=s.id,
        rule=s.rule,
        scope=s.scope,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        reason=s.reason,
        created_by=s.created_by,
    )
