"""The ``GET /api/v1/stats`` contract: ingest counters fleet-wide and per agent, plus live rates.

IngestCounters come from the store (they survive restarts); the rate and the queue figures
are live and start from zero with the process. ``rejected`` counts refused *messages*
by reason (a payload that cannot be parsed has no reading count); ``readings_received``
counts the readings of every batch that could be decoded, stored or not.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from edgewatch.coordinator.ingest.worker import LiveStats
from edgewatch.coordinator.rescoring.agreement import SplitOut
from edgewatch.coordinator.store import CounterSnapshot, IngestCounters


class CountersOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    readings_received: int
    readings_stored: int
    duplicates_dropped: int
    anomalies_stored: int
    # Readings whose key the store already held with other content (kept in quarantine).
    conflicts: int
    # Readings of a sensor that just changed owner, already stored from its other owner.
    handover_duplicates: int
    rejected: dict[str, int]


class StatsOut(CountersOut):
    """Fleet-wide counters at the top level, the same per agent under ``agents``."""

    agents: dict[str, CountersOut]
    agents_online: int
    ingest_readings_per_s: float
    queue_depth: int
    # The worker's frozen dataclass serialises as is: one definition of these fields.
    ingest: LiveStats | None
    # Edge vs cloud: who judged what (coordinator.rescoring.agreement).
    scoring: SplitOut | None = None


def counters_out(c: IngestCounters) -> CountersOut:
    return CountersOut(
        readings_received=c.readings_received,
        readings_stored=c.readings_stored,
        duplicates_dropped=c.duplicates_dropped,
        anomalies_stored=c.anomalies_stored,
        conflicts=c.conflicts,
        handover_duplicates=c.handover_duplicates,
        rejected=dict(sorted(c.rejected.items())),
    )


def build_stats(
    snapshot: CounterSnapshot,
    live: LiveStats | None,
    online: int,
    scoring: SplitOut | None = None,
) -> StatsOut:
    fleet = counters_out(snapshot.fleet)
    return StatsOut(
        **fleet.model_dump(),
        agents={a: counters_out(c) for a, c in snapshot.agents.items()},
        agents_online=online,
        ingest_readings_per_s=0.0 if live is None else round(live.readings_per_s, 1),
        queue_depth=0 if live is None else live.queue_depth,
        ingest=live,
        scoring=scoring,
    )
