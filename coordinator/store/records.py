"""What goes into and comes out of a store: plain frozen records, no database in sight.

The protocols that use them are in ``store.contract``; SQLite implements them in
``store.sqlite`` (and a PostgreSQL store will, the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.shared.desired import SensorSource
from edgewatch.shared.schemas import ResultBatch

MAX_QUERY_LIMIT = 10_000
# Agent id under which refusals that cannot be attributed to an agent are counted.
NO_AGENT = ""


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
class Refusal:
    """A message refused for good. ``agent_id`` is None when it cannot be attributed.

    ``retained_digest`` is set for a retained message: the broker hands it out again at
    every (re)subscription, and it must be counted once, not at every restart.
    """

    reason: str
    agent_id: str | None
    readings: int = 0
    kept: Quarantined | None = None
    retained_digest: str | None = None


@dataclass(frozen=True)
class WriteSet:
    """Everything one transaction commits: batches, refusal counts, changed agents."""

    batches: Sequence[ResultBatch] = ()
    refusals: Sequence[Refusal] = ()
    agents: Sequence[AgentRecord] = ()
    # Sensors that just changed owner: a reading of theirs that the store already holds
    # by (sensor_id, ts) came from the other owner; it is acked, counted, stored once.
    handover_sensors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch: rows new to the store, rows it already had (same
    content), and the seqs it already had with *different* content (``conflicts``: the
    incoming readings went to quarantine, never over the stored ones)."""

    stored: int
    duplicates: int
    conflicts: tuple[int, ...] = ()
    anomalies: int = 0
    handover_duplicates: int = 0


@dataclass(frozen=True)
class CommitResult:
    """Outcomes aligned with ``WriteSet.batches``; ``stored_at`` is stamped on every row.

    ``feed_position`` is the committed feed's head after this transaction (unchanged if
    it stored no new reading); ``refusals_counted`` is aligned with ``WriteSet.refusals``
    and False for a retained message that was refused (and counted) once already.
    """

    outcomes: list[BatchOutcome]
    stored_at: float
    feed_position: int = 0
    refusals_counted: tuple[bool, ...] = ()


@dataclass(frozen=True)
class IngestCounters:
    """Ingest counters (fleet-wide or for one agent). ``rejected`` counts messages;
    ``conflicts`` counts readings whose key was taken by different content."""

    readings_received: int = 0
    readings_stored: int = 0
    duplicates_dropped: int = 0
    anomalies_stored: int = 0
    conflicts: int = 0
    handover_duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CounterSnapshot:
    fleet: IngestCounters
    agents: dict[str, IngestCounters]


# Where a page of readings ended: the sort key of its last reading, unique per reading.
ReadingKey = tuple[float, str, int, int]  # (ts, agent_id, epoch, seq)


MAX_STAMPS = 100_000


@dataclass(frozen=True)
class ReadingQuery:
    """Filters for stored readings, ordered by ``(ts, agent_id, epoch, seq)``.

    That order is total (the key is unique), so ``after`` (the key of the last reading
    of the previous page) pages through any number of readings without gaps or repeats.
    """

    sensor_id: str | None = None
    agent_id: str | None = None
    since: float | None = None
    until: float | None = None
    anomaly: bool | None = None
    descending: bool = False
    after: ReadingKey | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        # MAX_STAMPS bounds the light ``stamps`` query; ``readings`` checks its own bound.
        if not 1 <= self.limit <= MAX_STAMPS:
            raise ValueError(f"limit must be within 1..{MAX_STAMPS}")


@dataclass(frozen=True, slots=True)
class ReadingStamp:
    """Where and when a reading was made and committed: what latency figures need,
    without the reading's contents (cheap to read in millions)."""

    agent_id: str
    epoch: int
    seq: int
    sensor_id: str
    ts: float
    stored_at: float


@dataclass(frozen=True)
class FeedEntry:
    """One batch's newly stored readings, as the committed feed lists them.

    ``position`` grows with every entry and is what consumers keep as their watermark;
    the readings are ``first_seq..last_seq`` of ``(agent_id, epoch)`` that this entry
    stored (``stored`` of them: a partly duplicate batch stored fewer than its range).
    """

    position: int
    committed_at: float
    agent_id: str
    epoch: int
    first_seq: int
    last_seq: int
    stored: int
    anomalies: int


@dataclass(frozen=True)
class SensorActivity:
    """What the store has seen of one sensor (kept by the ``sensors`` feed consumer)."""

    sensor_id: str
    sensor_type: str
    agent_id: str
    first_ts: float
    last_ts: float
    last_stored_at: float
    readings: int
    anomalies: int


Tier = Literal["low", "medium", "high"]
Origin = Literal["import", "api", "simulated", "reported"]


@dataclass(frozen=True)
class CatalogSensor:
    """A sensor the fleet knows: what it is, where it is, how it is read, who must own it.

    ``required_tier``: ``low`` if rules can judge it, ``medium``/``high`` if it needs a
    model of that size. ``pinned_to``: an operator's choice of agent (``PUT /sensors``).
    ``origin``: how it was registered (``edgewatch sensors import``, the API, the
    coordinator's ``--simulated-fleet``, or reported by the agent that reads it).
    """

    sensor_id: str
    sensor_type: str
    source: SensorSource
    latitude: float | None = None
    longitude: float | None = None
    required_tier: Tier = "low"
    pinned_to: str | None = None
    origin: Origin = "api"
    registered_at: float = 0.0


@dataclass(frozen=True)
class StoredDesired:
    """One agent's desired state as published: its generation and exact bytes."""

    agent_id: str
    generation: int
    issued_at: float
    document: bytes


@dataclass(frozen=True)
class AssignmentEvent:
    """A sensor changed owner (``from_agent`` None: first placement; ``to_agent`` None:
    nobody can take it), and why."""

    at: float
    sensor_id: str
    from_agent: str | None
    to_agent: str | None
    reason: str
    event_id: int = 0


@dataclass(frozen=True)
class Placement:
    agent_id: str
    since: float
