"""Reading sources: the simulated fleet and CSV replay, behind one ``Source`` contract."""

from __future__ import annotations

from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources.base import Pacer, SensorInfo, Source
from edgewatch.agent.sources.csv_replay import CsvReplay
from edgewatch.agent.sources.simulator import Simulator

__all__ = ["CsvReplay", "Pacer", "SensorInfo", "Simulator", "Source", "open_source"]


def open_source(settings: AgentSettings, start: int = 0) -> Source:
    """The source ``settings`` describe, resumed at reading ``start`` of its stream."""
    if settings.source == "csv":
        return CsvReplay(
            settings.csv,
            sep=settings.csv_sep,
            time_mode=settings.csv_time,
            sensor_type=settings.sensor_type or "csv",
            rate=settings.rate,
            count=settings.count,
            start=start,
        )
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
