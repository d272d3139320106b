"""Persistence of the coordinator: the contract (``contract``), its records (``records``)
and the SQLite store (``sqlite``), the embedded default."""

from edgewatch.coordinator.store.contract import (
    FeedStore,
    FleetStore,
    ReadingStore,
    SensorStore,
    Store,
)
from edgewatch.coordinator.store.records import (
    BatchOutcome,
    CommitResult,
    CounterSnapshot,
    FeedEntry,
    IngestCounters,
    Quarantined,
    ReadingQuery,
    Refusal,
    SensorActivity,
    WriteSet,
)
from edgewatch.coordinator.store.sqlite.store import SqliteStore

__all__ = [
    "BatchOutcome",
    "CommitResult",
    "CounterSnapshot",
    "FeedEntry",
    "FeedStore",
    "FleetStore",
    "IngestCounters",
    "Quarantined",
    "ReadingQuery",
    "ReadingStore",
    "Refusal",
    "SensorActivity",
    "SensorStore",
    "SqliteStore",
    "Store",
    "WriteSet",
]
