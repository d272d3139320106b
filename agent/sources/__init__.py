"""Reading sources behind one ``Source`` contract: the simulated fleet, CSV replay and the
sensors the coordinator assigns (simulated on their own clock, or read from a site broker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgewatch.agent.sources.base import AssignableSource, Pacer, SensorInfo, Source

if TYPE_CHECKING:  # the settings import the simulator's defaults from this package
    from edgewatch.agent.settings import AgentSettings
    from edgewatch.agent.sources.assigned import AssignedSource
    from edgewatch.agent.sources.csv_replay import CsvReplay
    from edgewatch.agent.sources.simulator import Simulator

# Each source is imported when it is used: an agent loads the code (and the memory) of
# the one it runs, not all three (``agent.sources.base`` imports this package first).
_LAZY = {
    "AssignedSource": "edgewatch.agent.sources.assigned",
    "CsvReplay": "edgewatch.agent.sources.csv_replay",
    "Simulator": "edgewatch.agent.sources.simulator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AssignableSource",
    "AssignedSource",
    "CsvReplay",
    "Pacer",
    "SensorInfo",
    "Simulator",
    "Source",
    "open_source",
]


def open_source(settings: AgentSettings, start: int = 0) -> Source:
    """The source ``settings`` describe, resumed at reading ``start`` of its stream.

    An assigned source starts with no sensors: the agent's desired state gives them.
    """
    if settings.source == "assigned":
        from edgewatch.agent.sources.assigned import open_assigned

        return open_assigned(
            site_broker=settings.site_broker,
            client_id=f"{settings.id}-site",
            start=start,
            protocol=settings.mqtt_version,
            keepalive=settings.keepalive,
        )
    if settings.source == "csv":
        from edgewatch.agent.sources.csv_replay import CsvReplay

        return CsvReplay(
            settings.csv,
            sep=settings.csv_sep,
            time_mode=settings.csv_time,
            sensor_type=settings.sensor_type or "csv",
            rate=settings.rate,
            count=settings.count,
            start=start,
        )
    from edgewatch.agent.sources.simulator import Simulator

    return Simulator(
        seed=settings.seed,
        sensors=settings.sensors,
        sensor_offset=settings.sensor_offset,
        rate=settings.rate,
        count=settings.count,
        start=start,
        anomaly_probability=settings.anomaly_probability,
        mean_episode_s=settings.mean_episode_s,
    )
