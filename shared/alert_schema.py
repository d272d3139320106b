"""Alert payloads on the wire: edge alert events (agent -> coordinator, through the
outbox in their own sequence space), their acks, and what the coordinator publishes.

An agent numbers its alert events ``(agent_id, epoch, seq)`` in a sequence of their own
(not the readings'), keeps each in its outbox until the coordinator's ``EdgeAlertAck``
covers it, and resends after an outage: the coordinator stores each once, so its record
is complete whatever the uplink did.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from edgewatch.shared.schemas import (
    AgentId,
    Epoch,
    SensorId,
    SensorType,
    Seq,
    ShortText,
    Timestamp,
    WireModel,
)

EdgeRule = Literal["critical_anomaly", "high_anomaly_rate"]
MAX_EDGE_EVENTS = 500


class EdgeAlert(WireModel):
    """One transition an agent's own rules found."""

    rule: EdgeRule
    sensor_id: SensorId
    sensor_type: SensorType
    verdict: Literal["raise", "clear"]
    ts: Timestamp  # when the agent found it (its clock)
    value: float = Field(ge=-1e12, le=1e12)


class EdgeAlertBatch(WireModel):
    """Alert events ``first_seq ..`` of ``epoch``, contiguous, oldest first."""

    schema_version: Literal[1] = 1
    agent_id: AgentId
    epoch: Epoch
    first_seq: Seq
    events: list[EdgeAlert] = Field(min_length=1, max_length=MAX_EDGE_EVENTS)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.events) - 1


class EdgeAlertAck(WireModel):
    """The coordinator committed alert events ``first_seq..last_seq`` of ``epoch``."""

    schema_version: Literal[1] = 1
    agent_id: AgentId
    epoch: Epoch
    first_seq: Seq
    last_seq: Seq

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last_seq < self.first_seq:
            raise ValueError("shape: last_seq < first_seq")
        return self


class LocalAlert(WireModel):
    """What an agent publishes locally at once (site broker topic, JSON-lines file)."""

    schema_version: Literal[1] = 1
    agent_id: AgentId
    seq: Seq
    rule: EdgeRule
    sensor_id: SensorId
    verdict: Literal["raise", "clear"]
    ts: Timestamp
    value: float
    message: ShortText
