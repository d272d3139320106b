"""Version 1 of the messages whose shape changed in version 2, frozen as released.

Never edit these models: they describe what agents of the previous release send. Each
has ``upgrade()`` to the current model (``shared.schemas``), so the coordinator handles
one shape. Results batches, acks and statuses kept their shape (their ``schema_version``
admits 1 and 2 directly), so only hello and heartbeat live here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgewatch.shared.schemas import (
    AgentId,
    Count,
    Epoch,
    Heartbeat,
    Hello,
    ModelRef,
    SensorType,
    ShortText,
    Timestamp,
    WireModel,
)


def _models(free_text: dict[str, str]) -> dict[str, ModelRef]:
    """Version 1 carried model versions as text; keep those that are plain numbers."""
    return {t: ModelRef(version=int(v)) for t, v in free_text.items() if v.isdigit() and int(v)}


class HeartbeatV1(WireModel):
    schema_version: Literal[1]
    agent_id: AgentId
    ts: Timestamp
    uptime_s: float = Field(ge=0)
    cpu_percent: float = Field(ge=0, le=100 * 1024)
    memory_percent: float = Field(ge=0, le=100)
    rss_mb: float = Field(ge=0)
    battery_percent: float | None = Field(default=None, ge=0, le=100)
    battery_simulated: bool = False
    # Bounded here although version 1 was not: the bound is what keeps the store safe.
    outbox_rows: Count
    outbox_bytes: Count
    outbox_oldest_age_s: float = Field(ge=0)
    readings_scored: Count
    readings_acked: Count
    dropped: dict[ShortText, Count] = Field(default_factory=dict, max_length=64)
    scorer: ShortText
    models: dict[SensorType, ShortText] = Field(default_factory=dict, max_length=64)
    mqtt_protocol: Literal["3.1.1", "5"]
    connected_since: float | None = None
    conditions: list[ShortText] = Field(default_factory=list, max_length=16)

    def upgrade(self) -> Heartbeat:
        data = self.model_dump(exclude={"schema_version", "models"})
        data["cpu_percent"] = min(self.cpu_percent, 100.0)
        data["uptime_s"] = min(self.uptime_s, 2.0**53)
        data["rss_mb"] = min(self.rss_mb, 2.0**53)
        data["outbox_oldest_age_s"] = min(self.outbox_oldest_age_s, 2.0**53)
        if self.connected_since is not None and not 0 <= self.connected_since <= 4.1e9:
            data["connected_since"] = None
        return Heartbeat(**data, models=_models(self.models))


class HelloV1(WireModel):
    schema_version: Literal[1]
    agent_id: AgentId
    ts: Timestamp
    version: ShortText
    tier: Literal["low", "medium", "high"]
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    capabilities: list[ShortText] = Field(default_factory=list, max_length=32)
    models: dict[SensorType, ShortText] = Field(default_factory=dict, max_length=64)
    sensors: Count
    epoch: Epoch

    def upgrade(self) -> Hello:
        data = self.model_dump(exclude={"schema_version", "models"})
        return Hello(**data, models=_models(self.models))
