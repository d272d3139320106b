"""Persistence of readings, ingest counters and the fleet registry (``Store`` protocol)."""

from edgewatch.coordinator.store.base import (
    BatchOutcome,
    CommitResult,
    CounterSnapshot,
    IngestCounters,
    Quarantined,
    ReadingQuery,
    Refusal,
    Store,
    WriteSet,
)
from edgewatch.coordinator.store.sqlite.store import SqliteStore

__all__ = [
    "BatchOutcome",
    "CommitResult",
    "CounterSnapshot",
    "IngestCounters",
    "Quarantined",
    "ReadingQuery",
    "Refusal",
    "SqliteStore",
    "Store",
    "WriteSet",
]
