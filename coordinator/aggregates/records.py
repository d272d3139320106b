"""What the store keeps per window, and what the aggregates' retention asks of it."""

from __future__ import annotations

from dataclasses import dataclass

from edgewatch.coordinator.aggregates.stats import WindowStats


@dataclass(frozen=True)
class WindowAggregate:
    """One stored window. ``revisions`` counts the times late readings (committed after
    the window closed) changed it; ``updated_at`` is when stored readings last changed it
    (retention counts from there, so a late backlog is never expired on arrival)."""

    scope: str
    size_s: int
    start: int
    stats: WindowStats
    revisions: int
    created_at: float
    updated_at: float
    revised_at: float | None = None

    @property
    def end(self) -> int:
        return self.start + self.size_s


@dataclass(frozen=True)
class AggregateQuery:
    """Windows of one size, of one scope (``sensor:ID`` ...) or of every scope of a kind
    (``scope_kind``), with ``since <= start < until``."""

    size_s: int
    scope: str | None = None
    scope_kind: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 10_000
    # Counts and latency only (no per-metric statistics): what the alert rules read.
    light: bool = False


@dataclass(frozen=True)
class Retention:
    """How long each window size is kept after its last update, and raw readings after
    they were stored (seconds; None keeps forever)."""

    windows: dict[int, float | None]
    raw_s: float | None
    batch_entries: int = 200


@dataclass(frozen=True)
class Expired:
    windows: int
    readings: int
    feed_entries: int
