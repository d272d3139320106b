"""The store contract, split by concern, so each store implements it piece by piece.

    Store
    ├── ReadingStore   ingest's one transaction (readings, counters, quarantine, fleet
    │                  records), reading queries, counters
    ├── FleetStore     the agents registry as last committed
    ├── FeedStore      the committed feed and its consumers' durable watermarks
    ├── SensorStore    per-sensor activity, written by the ``sensors`` feed consumer
    ├── CatalogStore   the sensor registry (what the fleet is to watch)
    ├── PlanStore      placements, desired states per agent, assignment events
    ├── ModelStore     the model registry (files included), public signing keys,
    │                  rollouts and their events, training data by sensor type
    ├── VerdictStore   cloud re-scoring: verdicts beside the edge's, verdict figures
    ├── AggregateStore windows per scope and size, written by the ``aggregates`` consumer;
    │                  retention of windows and raw readings
    ├── AlertStore     alerts by dedupe key with their history, silences, edge receipts
    ├── EnrollmentStore  the identities enrolled at the site (agents, coordinators ...)
    ├── TokenStore     API tokens with scopes, by their hash
    └── AuditStore     the audit log of admin actions

``tests/coordinator/store/test_contract.py`` runs one suite against every store.

Threads: ``write`` and the consumers' ``apply_*`` calls may come from different threads;
a store serialises its writes. Reads may come from any thread and never block a writer
for long (SQLite: WAL and a reader connection per query).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from edgewatch.coordinator.aggregates.compute import Columns, Contribution, WindowKey
from edgewatch.coordinator.aggregates.records import (
    AggregateQuery,
    Expired,
    Retention,
    WindowAggregate,
)
from edgewatch.coordinator.alerts.records import (
    Alert,
    AlertEvent,
    AlertQuery,
    Change,
    CriticalReading,
    EdgeReceipt,
    Silence,
    Transition,
)
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.model_records import (
    CloudVerdict,
    ModelRecord,
    ModelStatus,
    NewModel,
    Rollout,
    RolloutEvent,
    ScoredRows,
    SigningKeyRecord,
    TrainingQuery,
    TrainingRows,
    VerdictCounts,
)
from edgewatch.coordinator.store.records import (
    AssignmentEvent,
    CatalogSensor,
    CommitResult,
    CounterSnapshot,
    FeedEntry,
    Placement,
    ReadingQuery,
    ReadingStamp,
    SensorActivity,
    StoredDesired,
    WriteSet,
)
from edgewatch.coordinator.store.security_records import (
    ApiToken,
    AuditEntry,
    Enrollment,
)
from edgewatch.shared.schemas import Result


class ReadingStore(Protocol):
    def write(self, work: WriteSet) -> CommitResult:
        """Commit ``work`` in one transaction, or roll all of it back and raise.

        Raises ``StoreUnavailable`` when the database failed (retry later) and
        ``WriteRefused`` when this content cannot be written (isolate the message).
        """
        ...

    def readings(self, query: ReadingQuery) -> list[Result]: ...

    def stamps(self, query: ReadingQuery) -> list[ReadingStamp]:
        """``readings`` reduced to key and times; ``query.limit`` up to ``MAX_STAMPS``."""
        ...

    def counters(self) -> CounterSnapshot: ...


class FleetStore(Protocol):
    def agents(self) -> list[AgentRecord]: ...

    def agent(self, agent_id: str) -> AgentRecord | None: ...


class FeedStore(Protocol):
    def feed_after(self, position: int, limit: int) -> list[FeedEntry]:
        """Committed entries past ``position``, oldest first, at most ``limit``."""
        ...

    def feed_readings(self, entry: FeedEntry) -> list[Result]:
        """The readings ``entry`` stored, in seq order."""
        ...

    def feed_sensor_summary(self, entries: Sequence[FeedEntry]) -> list[SensorActivity]:
        """Per sensor, what ``entries`` stored (counted by the database, not in Python)."""
        ...

    def feed_head(self) -> int:
        """The position of the newest committed entry (0: none yet)."""
        ...

    def watermark(self, consumer: str) -> int:
        """How far ``consumer`` has durably got (0 if it never ran)."""
        ...


class SensorStore(Protocol):
    def apply_sensor_activity(
        self,
        updates: Sequence[SensorActivity],
        consumer: str,
        position: int,
        *,
        after: int | None = None,
    ) -> bool:
        """Merge ``updates`` and move ``consumer``'s watermark to ``position``, atomically:
        a crash leaves both as they were, so the consumer resumes without double counts.
        With ``after`` (the watermark the page was read from): only if the watermark is
        still there, else nothing is written and False (another replica applied it)."""
        ...

    def sensors(self) -> list[SensorActivity]: ...

    def sensor(self, sensor_id: str) -> SensorActivity | None: ...


class CatalogStore(Protocol):
    """The sensor registry: every sensor the fleet is to watch."""

    def register_sensors(self, sensors: Sequence[CatalogSensor]) -> int:
        """Insert or update by ``sensor_id`` (a pin is kept unless given); how many were new."""
        ...

    def catalog(self) -> list[CatalogSensor]: ...

    def catalog_sensor(self, sensor_id: str) -> CatalogSensor | None: ...

    def pin_sensor(self, sensor_id: str, agent_id: str | None) -> bool:
        """Pin (or unpin, with None); False if the sensor is not registered."""
        ...


class PlanStore(Protocol):
    """Who watches what: placements, each agent's desired state, the events between."""

    def placements(self) -> dict[str, Placement]: ...

    def desired_states(self) -> dict[str, StoredDesired]: ...

    def commit_plan(
        self,
        placements: Mapping[str, Placement],
        desired: Sequence[StoredDesired],
        events: Sequence[AssignmentEvent],
    ) -> None:
        """Replace the placements, upsert ``desired``, append ``events``: one transaction,
        before anything is published, so a restarted coordinator republishes the same."""
        ...

    def assignment_events(self, after: int, limit: int) -> list[AssignmentEvent]: ...

    def fleet_meta(self, key: str) -> str | None: ...

    def set_fleet_meta(self, key: str, value: str) -> None: ...


class ModelStore(Protocol):
    """The model lifecycle: what was trained, what signs it, how it was rolled out."""

    def add_model(self, model: NewModel) -> ModelRecord:
        """Register a candidate; ``WriteRefused`` if its (type, version) is taken."""
        ...

    def models(self, sensor_type: str | None = None) -> list[ModelRecord]: ...

    def model(self, model_id: int) -> ModelRecord | None: ...

    def model_file(self, model_id: int) -> bytes | None: ...

    def latest_model_version(self, sensor_type: str) -> int:
        """The highest version ever registered for the type (0: none)."""
        ...

    def delete_candidates(self, model_ids: Sequence[int]) -> None:
        """Forget models that were never rolled out (others are kept, whatever asked)."""
        ...

    def resign_models(self, signatures: Mapping[int, tuple[str, str]]) -> None:
        """Replace signatures: model id -> (key id, signature), after a key rotation."""
        ...

    def signing_keys(self) -> list[SigningKeyRecord]:
        """Every public signing key, oldest first (the last one signs)."""
        ...

    def add_signing_key(self, key: SigningKeyRecord) -> None: ...

    def commit_rollout(
        self,
        rollout: Rollout,
        statuses: Mapping[int, ModelStatus],
        events: Sequence[RolloutEvent],
    ) -> Rollout:
        """Insert (``id`` 0) or update ``rollout``, set model statuses, append events: one
        transaction. Returns the rollout with its id."""
        ...

    def rollouts(self, limit: int = 100) -> list[Rollout]:
        """Newest first."""
        ...

    def rollout(self, rollout_id: int) -> Rollout | None: ...

    def rollout_events(
        self, after: int, limit: int, rollout_id: int | None = None
    ) -> list[RolloutEvent]: ...

    def training_rows(self, query: TrainingQuery) -> TrainingRows:
        """The newest ``query.limit`` readings of the type in the window, oldest first."""
        ...


class VerdictStore(Protocol):
    """Cloud re-scoring: what the feed stored, and what the cloud made of it."""

    def feed_scored(self, entry: FeedEntry, types: frozenset[str] | None = None) -> ScoredRows:
        """The readings ``entry`` stored, columnar, with the edge's verdicts; metrics are
        read only for readings of ``types`` (None: all; NaN for the others)."""
        ...

    def apply_rescoring(
        self,
        verdicts: Sequence[CloudVerdict],
        counts: Sequence[VerdictCounts],
        consumer: str,
        position: int,
        prune_before: float,
        *,
        after: int | None = None,
    ) -> bool:
        """Store cloud verdicts, add the counts (by bucket and in total), drop buckets
        before ``prune_before`` and move ``consumer``'s watermark: one transaction. With
        ``after``, as ``apply_sensor_activity``: compare-and-set, False if it moved."""
        ...

    def verdict_window(self, since: float) -> list[VerdictCounts]:
        """The counts of buckets from ``since`` on, summed per agent, type and scorer."""
        ...

    def verdict_totals(self) -> list[VerdictCounts]: ...

    def cloud_verdicts(
        self, keys: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], CloudVerdict]: ...


class AggregateStore(Protocol):
    """Windowed aggregates (``coordinator.aggregates``)."""

    def feed_columns(self, entries: Sequence[FeedEntry]) -> Columns:
        """The readings ``entries`` stored, in columns."""
        ...

    def apply_aggregates(
        self,
        updates: Mapping[WindowKey, Contribution],
        consumer: str,
        after: int,
        position: int,
    ) -> bool:
        """Merge ``updates`` into the stored windows and move ``consumer``'s watermark from
        ``after`` to ``position``, atomically. False (nothing written) when the watermark
        is no longer ``after``: someone else (a rebuild, another replica) got there first."""
        ...

    def rebuild_aggregates(
        self,
        since: int,
        until: int,
        compute: Callable[[Columns], Mapping[WindowKey, Contribution]],
        consumer: str,
    ) -> int:
        """Replace the windows starting in ``[since, until)`` (whole hours) by ``compute``
        of the raw readings in that span the consumer has applied; how many readings."""
        ...

    def aggregates(self, query: AggregateQuery) -> list[WindowAggregate]: ...

    def expire(self, now: float, policy: Retention, consumers: Sequence[str]) -> Expired:
        """One retention pass; raw readings only past every consumer's watermark."""
        ...


class AlertStore(Protocol):
    """Alerts (``coordinator.alerts``): one not-cleared alert per dedupe key."""

    def apply_alert_changes(
        self,
        changes: Sequence[Change],
        consumer: str | None = None,
        position: int | None = None,
    ) -> list[Transition]:
        """Carry out ``changes`` in order (and move ``consumer``'s watermark), atomically;
        the transitions that happened (a raise of an open key only adds its source)."""
        ...

    def apply_edge_alerts(
        self,
        receipts: Sequence[EdgeReceipt],
        to_changes: Callable[[Sequence[EdgeReceipt]], Sequence[Change]],
    ) -> list[Transition]:
        """Record ``receipts``; apply ``to_changes`` of those never seen before, atomically."""
        ...

    def feed_critical(
        self, entries: Sequence[FeedEntry], min_confidence: float
    ) -> list[CriticalReading]:
        """Readings of ``entries`` judged anomalous with at least ``min_confidence``."""
        ...

    def alerts(self, query: AlertQuery) -> list[Alert]: ...

    def alert(self, alert_id: int) -> Alert | None: ...

    def alert_history(self, alert_id: int) -> list[AlertEvent]: ...

    def add_silence(self, silence: Silence) -> Silence: ...

    def end_silence(self, silence_id: int, at: float) -> bool: ...

    def silences(self, active_at: float | None = None) -> list[Silence]: ...


class EnrollmentStore(Protocol):
    """Who is enrolled at the site (``edgewatch enroll``): the coordinator accepts results
    only from active agent enrollments."""

    def enroll(self, record: Enrollment) -> bool:
        """Record ``record``; False (nothing written) if it is enrolled and not revoked.
        A revoked enrollment of the same identity is replaced."""
        ...

    def enrollment(self, identity: str) -> Enrollment | None: ...

    def enrollments(self) -> list[Enrollment]: ...

    def revoke_enrollment(self, identity: str, at: float, by: str) -> bool:
        """Mark it revoked; False if there is no active enrollment of ``identity``."""
        ...


class TokenStore(Protocol):
    """API tokens, stored by the SHA-256 of the token (never the token)."""

    def add_token(self, token: ApiToken, digest: str) -> None: ...

    def token_by_digest(self, digest: str) -> ApiToken | None: ...

    def tokens(self) -> list[ApiToken]: ...

    def revoke_token(self, token_id: str, at: float) -> bool:
        """False if there is no active token ``token_id``."""
        ...


class AuditStore(Protocol):
    """The audit log of admin actions: append-only."""

    def add_audit(self, entry: AuditEntry) -> int:
        """Append ``entry``; its id (growing)."""
        ...

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]: ...


class Store(
    ReadingStore,
    FleetStore,
    FeedStore,
    SensorStore,
    CatalogStore,
    PlanStore,
    ModelStore,
    VerdictStore,
    AggregateStore,
    AlertStore,
    EnrollmentStore,
    TokenStore,
    AuditStore,
    Protocol,
):
    """Everything the coordinator persists."""

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        ...

    def close(self) -> None: ...
