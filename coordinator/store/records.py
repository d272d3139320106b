"""The store contract: what ingest writes and the API reads, whatever the database.

SQLite (``store.sqlite``) is the default; a PostgreSQL store (SQLAlchemy Core) will
implement the same ``Store`` protocol. The write side is one call per transaction, so
any store can keep the rule "rows, counters and fleet records commit together, and
acks go out only after that".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.shared.schemas import Result, ResultBatch

MAX_QUERY_LIMIT = 10_000
# Agent id under which refusals that cannot be attributed to an agent are counted.
NO_AGENT = ""


@dataclass(frozen=True)
class Refusal:
    """A message refused for good. ``agent_id`` is None when it cannot be attributed."""

    reason: str
    agent_id: str | None
    readings: int = 0
    kept: Quarantined | None = None


@dataclass(frozen=True)
class Quarantined:
    """A refused batch that will be acked: stored whole first, in ``quarantine``."""

    agent_id: str
    epoch: int
    first_seq: int
    last_seq: int
    payload: bytes
    received_at: float


@dataclass(frozen=True)
class WriteSet:
    """Everything one transaction commits: batches, refusal counts, changed agents."""

    batches: Sequence[ResultBatch] = ()
    refusals: Sequence[Refusal] = ()
    agents: Sequence[AgentRecord] = ()


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch: rows new to the store, and rows it already had."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class CommitResult:
    """Outcomes aligned with ``WriteSet.batches``; ``stored_at`` is stamped on every row."""

    outcomes: list[BatchOutcome]
    stored_at: float


@dataclass(frozen=True)
class IngestCounters:
    """Ingest counters (fleet-wide or for one agent). ``rejected`` counts messages."""

    readings_received: int = 0
    readings_stored: int = 0
    duplicates_dropped: int = 0
    anomalies_stored: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CounterSnapshot:
    fleet: IngestCounters
    agents: dict[str, IngestCounters]


@dataclass(frozen=True)
class ReadingQuery:
    """Filters for stored readings; results are ordered by ``ts`` then arrival."""

    sensor_id: str | None = None
    agent_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_QUERY_LIMIT}")


class Store(Protocol):
    """Persistence for readings, ingest counters and the fleet registry.

    ``write`` is called from one thread (the ingest worker); the read methods may be
    called from any thread at the same time and must not block the writer.
    """

    def write(self, work: WriteSet) -> CommitResult:
        """Commit ``work`` in one transaction (insert-or-ignore on the unique key)."""
        ...

    def counters(self) -> CounterSnapshot: ...

    def agents(self) -> list[AgentRecord]: ...

    def agent(self, agent_id: str) -> AgentRecord | None: ...

    def readings(self, query: ReadingQuery) -> list[Result]: ...

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        ...

    def close(self) -> None: ...
