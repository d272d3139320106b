"""``--simulated-fleet N --seed K``: register the simulator's sensors SENSOR_000.. .

Each gets the simulator's own attributes for ``(seed, i)`` (type, place) and a
``simulated`` source on its own clock (``shared.desired.SimulatedSource``): whichever
agent the fleet duty gives it generates the same stream, so a moved sensor continues
where it was. The clock's origin ``t0`` is fixed the first time (kept in the store), so
a restarted coordinator describes the very same fleet.
"""

from __future__ import annotations

import math
from typing import Protocol

from edgewatch.agent.sources.fleet_model import DEFAULT_ANOMALY_PROBABILITY, build_fleet
from edgewatch.coordinator.store import CatalogSensor, CatalogStore, PlanStore
from edgewatch.shared.desired import SimulatedSource

T0_KEY = "simulated_fleet_t0"


def simulated_catalog(
    sensors: int,
    seed: int,
    rate_hz: float,
    t0: float,
    *,
    anomaly_probability: float = DEFAULT_ANOMALY_PROBABILITY,
    now: float = 0.0,
) -> list[CatalogSensor]:
    fleet = build_fleet(seed, sensors)
    return [
        CatalogSensor(
            sensor_id=info.sensor_id,
            sensor_type=info.sensor_type,
            source=SimulatedSource(
                seed=seed,
                number=i,
                rate_hz=rate_hz,
                t0=t0,
                anomaly_probability=anomaly_probability,
            ),
            latitude=info.latitude,
            longitude=info.longitude,
            origin="simulated",
            registered_at=now,
        )
        for i, info in enumerate(fleet.sensors)
    ]


class _Store(CatalogStore, PlanStore, Protocol):
    pass


def register_simulated_fleet(
    store: _Store, sensors: int, seed: int, rate_hz: float, now: float
) -> int:
    """Register (or refresh) the fleet; how many sensors were new."""
    stored = store.fleet_meta(T0_KEY)
    if stored is None:
        stored = repr(float(math.floor(now)))
        store.set_fleet_meta(T0_KEY, stored)
    t0 = float(stored)
    return store.register_sensors(simulated_catalog(sensors, seed, rate_hz, t0, now=now))
