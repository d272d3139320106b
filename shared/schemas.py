"""Wire schemas: every MQTT payload edgewatch sends or accepts (the current version).

All models are strict (no coercion: ``"1.5"`` is not a float, ``true`` is not a number),
refuse NaN and Infinity, forbid unknown fields and bound every string, list and integer,
so a payload that passes ``model_validate_json`` is safe to store (an integer above 2^53
would pass JSON but not SQLite, orjson or a JavaScript dashboard). Each carries
``schema_version``.

**Compatibility rule** (docs/topics.md, "Versions"): the coordinator accepts the current
and the previous ``schema_version`` of every message (``shared.wire`` decodes both and
upgrades the previous one), and answers an agent in the version that agent spoke, so a
fleet upgraded one box at a time keeps delivering: upgrade the coordinator first, then
the agents. The previous version's models are frozen in ``shared.schemas_v1``.

Version 2 (this module) differs from 1 by: models as ``{type: {version, sha256}}`` in
hello and heartbeat (version 1 had free text), scorer names that may hold ``@``
(``onnx:<type>@<version>``), integers bounded by 2^53, ``cpu_percent`` bounded by 100,
heartbeat fields ``bad_acks`` and ``conflicted``, and acks that name ``conflicts``.

The results batch is **columnar** (one array per field, one array per metric): about a
third of the bytes of a row-wise batch and several times cheaper to validate.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from edgewatch.shared.topics import AGENT_ID_PATTERN

SCHEMA_VERSION = 2
PREVIOUS_VERSION = 1
MAX_BATCH = 5000
MAX_METRICS = 64
# Every integer on the wire stays exact in a float64 (JavaScript, JSON tools) and fits a
# signed 64-bit SQLite INTEGER: a heartbeat claiming 2^64 readings is refused, not stored.
MAX_INT = 2**53
# 2000-01-01: anything earlier is a clock that was never set (or seconds taken for ms).
MIN_TS = 946_684_800.0
# 2100-01-01: the schema's static bound; the coordinator also refuses readings further in
# the future than its configured skew (default one day), which catches ms-for-s.
MAX_TS = 4_102_444_800.0

AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
SensorId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
SensorType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_. ()/%-]{1,64}$")]
# ``rules``, ``onnx:<type>@<version>`` (a type is up to 64 characters, a version 16 digits).
ScorerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:+@-]{1,96}$")]
Status = Literal["normal", "warning", "alert"]
Timestamp = Annotated[float, Field(ge=MIN_TS, le=MAX_TS)]
Epoch = Annotated[int, Field(gt=0, lt=MAX_INT)]
Seq = Annotated[int, Field(ge=0, lt=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
# Not Literal[0, 1]: a Literal would take ``true`` for 1, a strict int refuses bools.
Label = Annotated[int, Field(ge=0, le=1)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
# Batches and acks keep one shape across versions 1 and 2; the version says which acks
# the agent understands (a version 1 agent gets version 1 acks, without ``conflicts``).
BatchVersion = Literal[1, 2]


class WireModel(BaseModel):
    """Base of every payload: strict, finite, closed."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class Reading(WireModel):
    """One sensor reading (row form, as the API returns it)."""

    sensor_id: SensorId
    sensor_type: SensorType
    ts: Timestamp
    metrics: dict[MetricName, float] = Field(max_length=MAX_METRICS)
    status: Status | None = None
    label: Label | None = None


class Result(Reading):
    """A reading with the edge's verdict and its place in the agent's sequence."""

    agent_id: AgentId
    epoch: Epoch
    seq: Seq
    score: float | None
    anomaly: bool
    confidence: Unit
    scorer: ScorerName


class ResultBatch(WireModel):
    """Many scored readings in one message, one array per field.

    Reading ``i`` has sequence number ``first_seq + i``: an agent numbers its results
    ``(agent_id, epoch, seq)`` and batches are always contiguous runs of its outbox.
    ``metrics[name][i]`` is ``null`` when reading ``i`` has no such metric.
    """

    schema_version: BatchVersion
    agent_id: AgentId
    epoch: Epoch
    first_seq: Seq
    sensor_id: list[SensorId] = Field(min_length=1, max_length=MAX_BATCH)
    sensor_type: list[SensorType] = Field(max_length=MAX_BATCH)
    ts: list[Timestamp] = Field(max_length=MAX_BATCH)
    metrics: dict[MetricName, list[float | None]] = Field(min_length=1, max_length=MAX_METRICS)
    status: list[Status | None] = Field(max_length=MAX_BATCH)
    label: list[Label | None] = Field(max_length=MAX_BATCH)
    score: list[float | None] = Field(max_length=MAX_BATCH)
    anomaly: list[bool] = Field(max_length=MAX_BATCH)
    confidence: list[Unit] = Field(max_length=MAX_BATCH)
    scorer: list[ScorerName] = Field(max_length=MAX_BATCH)

    @property
    def size(self) -> int:
        return len(self.sensor_id)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.sensor_id) - 1

    @model_validator(mode="after")
    def _same_length(self) -> Self:
        n = len(self.sensor_id)
        columns = (self.sensor_type, self.ts, self.status, self.label, self.score)
        extra = (self.anomaly, self.confidence, self.scorer)
        if any(len(c) != n for c in (*columns, *extra)) or any(
            len(v) != n for v in self.metrics.values()
        ):
            raise ValueError("shape: every column must have one value per reading")
        if self.first_seq + n >= MAX_INT:
            raise ValueError("shape: sequence overflow")
        return self


class SeqRange(WireModel):
    """Sequence numbers ``first..last`` (inclusive) of one epoch."""

    first: Seq
    last: Seq

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last < self.first:
            raise ValueError("shape: last < first")
        return self


class Ack(WireModel):
    """The coordinator's word that seqs ``first_seq..last_seq`` of ``epoch`` are committed.

    ``rejected`` is set when the batch was refused for good (it will never be valid, so the
    agent must not resend it); the agent then counts those readings as dropped by that
    reason. Duplicates are acked like new rows: they are already safe in the store.
    ``conflicts`` (version 2) names readings whose key the store already holds with
    *different* content: the coordinator kept the incoming ones in quarantine, and the
    agent keeps its own copies aside instead of deleting them.
    """

    schema_version: BatchVersion = 2
    agent_id: AgentId
    epoch: Epoch
    first_seq: Seq
    last_seq: Seq
    stored: Count
    duplicates: Count
    rejected: ShortText | None = None
    conflicts: list[SeqRange] = Field(default_factory=list, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _v1_has_no_conflicts(self) -> Self:
        if self.schema_version == 1 and self.conflicts:
            raise ValueError("shape: version 1 acks carry no conflicts")
        return self


class ModelRef(WireModel):
    """Which model an agent runs for a sensor type."""

    version: Version
    sha256: Sha256 | None = None


# Sensors one desired state may assign to one agent (it must fit one MQTT message).
MAX_ASSIGNED = 2000


class ShadowReport(WireModel):
    """A model scoring in shadow beside the one that decides, since it was loaded."""

    version: Version
    readings: Count
    anomalies: Count  # the shadow model's verdicts
    live_anomalies: Count  # the deciding scorer's verdicts on the same readings
    disagreements: Count
    errors: Count = 0


class ReportedState(WireModel):
    """What the agent runs of its desired state (``shared.desired``): the generation it
    applied and what that gave."""

    generation: Count  # 0: no desired state applied yet (the agent runs its own flags)
    active_sensors: list[SensorId] = Field(default_factory=list, max_length=MAX_ASSIGNED)
    models: dict[SensorType, ModelRef] = Field(default_factory=dict, max_length=64)
    # What could not be carried out, e.g. "site broker unreachable" or a bad sensor topic.
    errors: list[ShortText] = Field(default_factory=list, max_length=32)
    # Desired states refused since start, by reason (stale, wrong_agent, schema...).
    refused: dict[ShortText, Count] = Field(default_factory=dict, max_length=32)
    # Per assigned sensor since start: readings missed (the agent stalled past its
    # catch-up bound, a site sensor's publish lost) and site payloads refused by reason.
    gaps: dict[SensorId, Count] = Field(default_factory=dict, max_length=MAX_ASSIGNED)
    bad_payloads: dict[SensorId, dict[ShortText, Count]] = Field(
        default_factory=dict, max_length=MAX_ASSIGNED
    )
    # Model pushes refused since start, by reason (bad_signature, older, wrong_type ...).
    models_refused: dict[ShortText, Count] = Field(default_factory=dict, max_length=32)
    # Per sensor type, micro-batches its model failed to score since start (the rules
    # judged them instead).
    model_errors: dict[SensorType, Count] = Field(default_factory=dict, max_length=64)
    shadow: dict[SensorType, ShadowReport] = Field(default_factory=dict, max_length=64)
    # The id of the key pushed models must be signed with (None: no key pinned).
    model_key: ShortText | None = None


class Heartbeat(WireModel):
    """Periodic health of an agent: real OS figures plus its pipeline counters.

    ``cpu_percent`` is the whole machine's CPU use, 0-100 (all cores together), as
    ``psutil.cpu_percent()`` reports it; ``rss_mb`` is the agent process's own memory.
    """

    schema_version: Literal[2] = 2
    agent_id: AgentId
    ts: Timestamp
    uptime_s: float = Field(ge=0, le=MAX_INT)
    cpu_percent: float = Field(ge=0, le=100)
    memory_percent: float = Field(ge=0, le=100)
    rss_mb: float = Field(ge=0, le=MAX_INT)
    battery_percent: float | None = Field(default=None, ge=0, le=100)
    battery_simulated: bool = False
    outbox_rows: Count
    outbox_bytes: Count
    outbox_oldest_age_s: float = Field(ge=0, le=MAX_INT)
    readings_scored: Count
    readings_acked: Count
    dropped: dict[ShortText, Count] = Field(default_factory=dict, max_length=64)
    # Acks the agent refused (forged, for chunks it never sent, malformed), by reason.
    bad_acks: dict[ShortText, Count] = Field(default_factory=dict, max_length=64)
    # Readings the coordinator reported in conflict, kept aside in the outbox.
    conflicted: Count = 0
    scorer: ShortText
    models: dict[SensorType, ModelRef] = Field(default_factory=dict, max_length=64)
    mqtt_protocol: Literal["3.1.1", "5"]
    connected_since: float | None = Field(default=None, ge=0, le=MAX_TS)
    # Conditions an operator must see, e.g. "disk_full", "outbox_recovered".
    conditions: list[ShortText] = Field(default_factory=list, max_length=16)
    # What the agent runs of its desired state (the control plane, shared.desired).
    reported: ReportedState | None = None


class LocalSensor(WireModel):
    """A sensor an agent reads from its own source, as it announces it."""

    sensor_id: SensorId
    sensor_type: SensorType
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class Hello(WireModel):
    """An agent's announcement, retained so a restarted coordinator knows the fleet."""

    schema_version: Literal[2] = 2
    agent_id: AgentId
    ts: Timestamp
    version: ShortText
    tier: Literal["low", "medium", "high"]
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    capabilities: list[ShortText] = Field(default_factory=list, max_length=32)
    models: dict[SensorType, ModelRef] = Field(default_factory=dict, max_length=64)
    sensors: Count
    epoch: Epoch
    # How many assigned sensors this agent takes at most (None: as the fleet decides).
    capacity: Count | None = None
    # Sensors it reads on its own (its CSV files, its local simulator): the coordinator
    # registers them as reachable by this agent only.
    own_sensors: list[LocalSensor] = Field(default_factory=list, max_length=MAX_ASSIGNED)


class AgentStatus(WireModel):
    """``online`` on connect, ``offline`` as the last will (both retained)."""

    schema_version: BatchVersion = 2
    agent_id: AgentId
    state: Literal["online", "offline"]
    ts: Timestamp | None = None
