"""Persistence of readings, ingest counters and the fleet registry (``Store`` protocol)."""

from coordinator.store.base import (
    BatchOutcome,
    CommitResult,
    Counters,
    CounterSnapshot,
    Quarantined,
    ReadingQuery,
    Refusal,
    Store,
    WriteSet,
)
from coordinator.store.sqlite import SqliteStore

__all__ = [
    "BatchOutcome",
    "CommitResult",
    "CounterSnapshot",
    "Counters",
    "Quarantined",
    "ReadingQuery",
    "Refusal",
    "SqliteStore",
    "Store",
    "WriteSet",
]
