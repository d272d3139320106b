"""``/api/v1/sensors``: the sensor registry, with what the store has seen of each sensor.

``GET`` lists every registered sensor (and any the store has readings of); ``POST``
registers sensors; ``GET /{id}`` adds the sensor's gap accounting; ``PUT /{id}`` pins it
to an agent (``{"pinned_to": "pi-7"}``) or unpins it (``null``).

Gaps: for a sensor with a known rate (a simulated sensor's clock, a site sensor's
nominal rate), ``expected`` is the number of readings due between its first and last
stored reading and ``gap`` = expected - stored: readings due while no agent watched it
(an agent lost before another took over) or lost on the way.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from edgewatch.coordinator.api.deps import ServiceDep, StoreDep
from edgewatch.coordinator.errors import NotFoundError
from edgewatch.coordinator.store import CatalogSensor, SensorActivity
from edgewatch.shared.desired import SensorSource
from edgewatch.shared.schemas import AgentId, SensorId, SensorType

router = APIRouter(prefix="/sensors", tags=["sensors"])
Tier = Literal["low", "medium", "high"]


class SensorIn(BaseModel):
    # Strict: `false` is not a longitude (lax mode would take it as 0.0).
    model_config = ConfigDict(extra="forbid", strict=True)

    sensor_id: SensorId
    sensor_type: SensorType
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    required_tier: Tier = "low"
    source: SensorSource
    pinned_to: AgentId | None = None


class PinIn(BaseModel):
    # Strict: `false` is not a longitude (lax mode would take it as 0.0).
    model_config = ConfigDict(extra="forbid", strict=True)

    pinned_to: AgentId | None


class ActivityOut(BaseModel):
    first_ts: float
    last_ts: float
    last_stored_at: float
    readings: int
    anomalies: int
    last_agent: str


class SensorOut(BaseModel):
    sensor_id: str
    sensor_type: str
    registered: bool
    latitude: float | None
    longitude: float | None
    required_tier: Tier | None
    source: SensorSource | None
    pinned_to: str | None
    origin: str | None
    assigned_to: str | None
    activity: ActivityOut | None
    expected: int | None
    gap: int | None


class RegisteredOut(BaseModel):
    registered: int
    new: int


def _rate(sensor: CatalogSensor | None) -> float | None:
    return None if sensor is None else sensor.source.rate_hz


def sensor_out(
    sensor_id: str,
    sensor: CatalogSensor | None,
    seen: SensorActivity | None,
    assigned_to: str | None,
) -> SensorOut:
    rate = _rate(sensor)
    expected = gap = None
    if seen is not None and rate is not None:
        expected = round((seen.last_ts - seen.first_ts) * rate) + 1
        gap = max(0, expected - seen.readings)
    return SensorOut(
        sensor_id=sensor_id,
        sensor_type=sensor.sensor_type if sensor else seen.sensor_type if seen else "",
        registered=sensor is not None,
        latitude=sensor.latitude if sensor else None,
        longitude=sensor.longitude if sensor else None,
        required_tier=sensor.required_tier if sensor else None,
        source=sensor.source if sensor else None,
        pinned_to=sensor.pinned_to if sensor else None,
        origin=sensor.origin if sensor else None,
        assigned_to=assigned_to,
        activity=None
        if seen is None
        else ActivityOut(
            first_ts=seen.first_ts,
            last_ts=seen.last_ts,
            last_stored_at=seen.last_stored_at,
            readings=seen.readings,
            anomalies=seen.anomalies,
            last_agent=seen.agent_id,
        ),
        expected=expected,
        gap=gap,
    )


@router.get("")
def list_sensors(store: StoreDep) -> list[SensorOut]:
    catalog = {s.sensor_id: s for s in store.catalog()}
    seen = {s.sensor_id: s for s in store.sensors()}
    placed = store.placements()
    return [
        sensor_out(
            sid,
            catalog.get(sid),
            seen.get(sid),
            placed[sid].agent_id if sid in placed else None,
        )
        for sid in sorted(set(catalog) | set(seen))
    ]


@router.post("", status_code=201)
def register_sensors(body: list[SensorIn], store: StoreDep, service: ServiceDep) -> RegisteredOut:
    now = time.time()
    records = [
        CatalogSensor(
            sensor_id=s.sensor_id,
            sensor_type=s.sensor_type,
            source=s.source,
            latitude=s.latitude,
            longitude=s.longitude,
            required_tier=s.required_tier,
            pinned_to=s.pinned_to,
            origin="api",
            registered_at=now,
        )
        for s in body
    ]
    new = store.register_sensors(records)
    if service.fleet_duty is not None:
        service.fleet_duty.catalog_changed()
    return RegisteredOut(registered=len(records), new=new)


@router.get("/{sensor_id}", responses={404: {"description": "no such sensor"}})
def get_sensor(sensor_id: str, store: StoreDep) -> SensorOut:
    sensor = store.catalog_sensor(sensor_id)
    seen = store.sensor(sensor_id)
    if sensor is None and seen is None:
        raise NotFoundError("sensor", sensor_id)
    placed = store.placements().get(sensor_id)
    return sensor_out(sensor_id, sensor, seen, placed.agent_id if placed else None)


@router.put("/{sensor_id}", responses={404: {"description": "no such sensor"}})
def pin_sensor(sensor_id: str, body: PinIn, store: StoreDep, service: ServiceDep) -> SensorOut:
    if not store.pin_sensor(sensor_id, body.pinned_to):
        raise NotFoundError("sensor", sensor_id)
    if service.fleet_duty is not None:
        service.fleet_duty.catalog_changed()
    return get_sensor(sensor_id, store)
