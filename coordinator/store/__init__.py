"""Persistence of the coordinator: the contract (``contract``), its records (``records``)
and the SQLite store (``sqlite``), the embedded default."""

from edgewatch.coordinator.store.contract import (
    CatalogStore,
    FeedStore,
    FleetStore,
    ModelStore,
    PlanStore,
    ReadingStore,
    SensorStore,
    Store,
    VerdictStore,
)
from edgewatch.coordinator.store.records import (
    AssignmentEvent,
    BatchOutcome,
    CatalogSensor,
    CommitResult,
    CounterSnapshot,
    FeedEntry,
    IngestCounters,
    Placement,
    Quarantined,
    ReadingQuery,
    Refusal,
    SensorActivity,
    StoredDesired,
    WriteSet,
)
from edgewatch.coordinator.store.sqlite.store import SqliteStore

__all__ = [
    "AssignmentEvent",
    "BatchOutcome",
    "CatalogSensor",
    "CatalogStore",
    "CommitResult",
    "CounterSnapshot",
    "FeedEntry",
    "FeedStore",
    "FleetStore",
    "IngestCounters",
    "ModelStore",
    "Placement",
    "PlanStore",
    "Quarantined",
    "ReadingQuery",
    "ReadingStore",
    "Refusal",
    "SensorActivity",
    "SensorStore",
    "SqliteStore",
    "Store",
    "StoredDesired",
    "VerdictStore",
    "WriteSet",
]
