"""The control plane on the wire: what the coordinator wants an agent to run, and what it runs.

The device-twin pattern (Azure IoT Hub's desired/reported properties, AWS IoT shadows)
over our own topics. Per agent, the coordinator keeps one **desired state** with a
monotonic ``generation`` and publishes it retained, QoS 1, on
``{prefix}/agents/{id}/desired``; the agent validates it, ignores a generation not newer
than the one it applied, persists it (a rebooted agent without uplink resumes it),
applies it without a restart and reports what it actually runs (**reported state**) in
its heartbeats. Sensor assignment, model versions and config overrides are all fields of
this one document, so every duty rides one channel.

Where a sensor is read (``source``):

- ``simulated``: generated on the agent from the simulator's model on the **sensor's own
  clock**: reading ``j`` is due at ``t0 + j / rate_hz``, carries that time as ``ts``, and
  its values depend only on ``(seed, number, j)``. A sensor moved to another agent
  continues its stream, and two owners of one sensor produce the same ``(sensor_id, ts)``.
- ``site``: a real sensor (or a PLC bridge, Node-RED flow, Tasmota/ESPHome device)
  publishing JSON readings to ``topic`` on the site broker the agent reads
  (``--site-broker``); ``rate_hz`` is its nominal rate, for gap accounting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from edgewatch.shared.schemas import (
    MAX_ASSIGNED,
    MAX_INT,
    AgentId,
    Count,
    ReportedState,
    SensorId,
    SensorType,
    Sha256,
    Timestamp,
    Unit,
    Version,
    WireModel,
)

__all__ = [
    "DEFAULT_ANOMALY_PROBABILITY",
    "DEFAULT_MEAN_EPISODE_S",
    "MAX_ASSIGNED",
    "AssignedSensor",
    "ConfigOverrides",
    "DesiredState",
    "EdgeAlertSettings",
    "LocalSource",
    "ModelOrder",
    "ReportedState",
    "SensorSource",
    "SimulatedSource",
    "SiteSource",
]

# An MQTT topic name on the site broker: no wildcards, no empty levels at the ends.
SiteTopic = Annotated[
    str, StringConstraints(pattern=r"^[^+#\x00/][^+#\x00]{0,190}[^+#\x00/]$|^[^+#\x00/]$")
]
Rate = Annotated[float, Field(gt=0, le=1000)]
# The simulator's episode process by default (agent.sources.fleet_model uses these).
DEFAULT_ANOMALY_PROBABILITY = 0.005
DEFAULT_MEAN_EPISODE_S = 30.0


def _kind_required(schema: dict[str, Any]) -> None:
    """Parsing a source needs its ``kind`` (the discriminator): say so in the JSON schema
    (the OpenAPI document), where its default would otherwise make it look optional."""
    required = schema.setdefault("required", [])
    if "kind" not in required:
        required.insert(0, "kind")


class SimulatedSource(WireModel):
    model_config = ConfigDict(json_schema_extra=_kind_required)
    kind: Literal["simulated"] = "simulated"
    seed: int = Field(ge=0, le=MAX_INT)
    number: Count  # the sensor's number in the simulated fleet: its type, place, base values
    rate_hz: Rate
    t0: Timestamp  # reading j is due at t0 + j / rate_hz
    anomaly_probability: Unit = DEFAULT_ANOMALY_PROBABILITY
    mean_episode_s: float = Field(default=DEFAULT_MEAN_EPISODE_S, gt=0, le=86_400)


class SiteSource(WireModel):
    model_config = ConfigDict(json_schema_extra=_kind_required)
    kind: Literal["site"] = "site"
    topic: SiteTopic
    rate_hz: Rate | None = None  # nominal rate, for gap accounting


class LocalSource(WireModel):
    """Read by one agent from its own source (a CSV file, its local simulator): nobody
    else can read it, so it is registered, never assigned."""

    model_config = ConfigDict(json_schema_extra=_kind_required)
    kind: Literal["local"] = "local"
    agent_id: AgentId
    rate_hz: Rate | None = None


SensorSource = Annotated[SimulatedSource | SiteSource | LocalSource, Field(discriminator="kind")]


class AssignedSensor(WireModel):
    """A sensor the agent is to watch, and where it reads it."""

    sensor_id: SensorId
    sensor_type: SensorType
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    source: SensorSource


class ModelOrder(WireModel):
    """The model to run for a sensor type: its version and the sha256 of its file.

    The agent fetches the signed package of that version (``shared.modelpack``) unless it
    has the file already, and refuses a version older than the one it runs unless
    ``rollback`` says the coordinator means it (the file is still verified).
    """

    version: Version
    sha256: Sha256
    rollback: bool = False


class EdgeAlertSettings(WireModel):
    """The agent's own alert rules (``shared.alert_rules.EdgeRules``), set by the coordinator."""

    enabled: bool = True
    critical_confidence: Unit = 0.9
    critical_clear_s: float = Field(default=60.0, gt=0, le=86_400)
    rate_window_s: float = Field(default=300.0, ge=10, le=86_400)
    rate_raise: Unit = 0.15
    rate_clear: Unit = 0.10
    rate_min_count: int = Field(default=60, ge=1, le=1_000_000)


class ConfigOverrides(WireModel):
    """Settings the coordinator may change on a running agent (room for later duties)."""

    # Share of readings the coordinator re-scores in the cloud (hybrid routing).
    rescore_sample: Unit | None = None
    # The agent's own alert rules (None: the agent's defaults).
    alerts: EdgeAlertSettings | None = None


class DesiredState(WireModel):
    """What the coordinator wants ``agent_id`` to run, as of ``generation``."""

    schema_version: Literal[2] = 2
    agent_id: AgentId
    generation: Version
    issued_at: Timestamp
    sensors: list[AssignedSensor] = Field(default_factory=list, max_length=MAX_ASSIGNED)
    models: dict[SensorType, ModelOrder] = Field(default_factory=dict, max_length=64)
    config: ConfigOverrides = Field(default_factory=ConfigOverrides)
    # Canary in shadow: also score these types with this model; the one in ``models`` (or
    # the rules) still decides, and the agent reports how the two verdicts compare.
    shadow: dict[SensorType, ModelOrder] = Field(default_factory=dict, max_length=64)
