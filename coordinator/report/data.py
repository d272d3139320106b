"""What ``edgewatch report`` draws, read from the store: only real data, only cheap reads.

Everything over time comes from the windowed aggregates (``coordinator.aggregates``):
a store of 10 million readings holds a few thousand windows for a day, so the report
costs the same whatever the fleet sent. The one raw read is the confidence panel's: the
newest ``CONFIDENCE_SAMPLE`` readings of the period, through the readings' time index.
The edge/cloud split comes from the re-scoring consumer's verdict buckets
(``VerdictStore.verdict_window``): they start at ``--since`` but run to now, and are
kept for ``RETENTION_S`` (the panel's title says what it covers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edgewatch.coordinator.aggregates.records import AggregateQuery, WindowAggregate
from edgewatch.coordinator.aggregates.stats import merge_all
from edgewatch.coordinator.alerts.records import AlertQuery
from edgewatch.coordinator.rescoring.agreement import is_model
from edgewatch.coordinator.rescoring.consumer import RETENTION_S
from edgewatch.coordinator.store import ReadingQuery, Store
from edgewatch.coordinator.store.records import MAX_QUERY_LIMIT

CONFIDENCE_SAMPLE = MAX_QUERY_LIMIT
HEATMAP_SENSORS = 60
WINDOW_LIMIT = 500_000
# The window size for a period: about 100-300 windows across the figure.
_SIZES = ((3 * 3600, 60), (24 * 3600, 300), (3 * 86_400, 900))


def window_for(span_s: float) -> int:
    return next((size for limit, size in _SIZES if span_s <= limit), 3600)


@dataclass(frozen=True)
class Series:
    t: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class AgentBar:
    agent_id: str
    state: str
    readings: int


@dataclass(frozen=True)
class AlertSpan:
    rule: str
    scope: str
    severity: str
    raised_at: float
    cleared_at: float | None


@dataclass(frozen=True)
class Heatmap:
    sensors: list[str]
    starts: list[float]
    rates: list[list[float | None]]  # [sensor][window]: anomaly rate, None without readings


@dataclass(frozen=True)
class JudgeSplit:
    """Per sensor type: who judged its readings at the edge, and what the cloud re-scored."""

    since: float  # the verdict buckets summed start here and run to now
    types: list[str] = field(default_factory=list)
    edge_model: list[int] = field(default_factory=list)
    edge_rules: list[int] = field(default_factory=list)
    rescored: list[int] = field(default_factory=list)
    agreed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ReportData:
    since: float
    until: float
    window_s: int
    throughput: Series  # readings stored per second, per window, fleet-wide
    anomaly_rate: dict[str, Series]  # per sensor type
    latency: Mapping[str, int]  # merged reading -> committed histogram (aggregates' buckets)
    agents: list[AgentBar]
    alerts: list[AlertSpan]
    confidence_normal: list[float]
    confidence_anomalous: list[float]
    heatmap: Heatmap
    judges: JudgeSplit

    def panel_sizes(self) -> dict[str, int]:
        """How many data points each panel has (a test checks none is empty)."""
        return {
            "throughput": len(self.throughput.t),
            "anomaly_rate": sum(len(s.t) for s in self.anomaly_rate.values()),
            "latency": sum(self.latency.values()),
            "agents": len(self.agents),
            "alerts": len(self.alerts),
            "confidence": len(self.confidence_normal) + len(self.confidence_anomalous),
            "heatmap": sum(1 for row in self.heatmap.rates for v in row if v is not None),
            "edge_cloud": sum(self.judges.edge_model) + sum(self.judges.edge_rules),
        }


def _windows(
    store: Store,
    size: int,
    since: float,
    until: float,
    *,
    scope: str | None = None,
    kind: str | None = None,
    light: bool = False,
) -> list[WindowAggregate]:
    query = AggregateQuery(
        size_s=size,
        scope=scope,
        scope_kind=kind,
        since=since,
        until=until,
        limit=WINDOW_LIMIT,
        light=light,
    )
    return store.aggregates(query)


def first_window(store: Store, since: float, until: float) -> float | None:
    """When the store's fleet windows in ``[since, until)`` begin (None: there are none)."""
    query = AggregateQuery(size_s=60, scope="fleet", since=since, until=until, limit=1, light=True)
    found = store.aggregates(query)
    return None if not found else float(found[0].start)


def judge_split(store: Store, since: float, now: float) -> JudgeSplit:
    start = max(since, now - RETENTION_S)  # older buckets are pruned
    by_type: dict[str, list[int]] = {}
    for c in store.verdict_window(start):
        row = by_type.setdefault(c.sensor_type, [0, 0, 0, 0])
        row[0 if is_model(c.scorer) else 1] += c.readings
        row[2] += c.rescored
        row[3] += c.agreed
    types = sorted(by_type)
    return JudgeSplit(
        start,
        types,
        *([by_type[t][i] for t in types] for i in range(4)),
    )


def gather(store: Store, since: float, until: float, now: float) -> ReportData:
    size = window_for(until - since)
    since = since - since % size  # whole windows
    fleet = _windows(store, size, since, until, scope="fleet")
    throughput = Series([w.start for w in fleet], [w.stats.count / size for w in fleet])
    by_type: dict[str, Series] = {}
    for w in _windows(store, size, since, until, kind="type"):
        rate = w.stats.anomaly_rate
        if rate is not None:
            s = by_type.setdefault(w.scope.split(":", 1)[1], Series())
            s.t.append(w.start)
            s.values.append(rate)
    counters = store.counters().agents
    agents = [
        AgentBar(r.id, r.state, counters[r.id].readings_stored if r.id in counters else 0)
        for r in store.agents()
    ]
    alerts = [
        AlertSpan(a.rule, a.scope, a.severity, a.raised_at, a.cleared_at)
        for a in store.alerts(AlertQuery(limit=10_000))
        if a.raised_at < until and (a.cleared_at is None or a.cleared_at >= since)
    ]
    sample = store.readings(
        ReadingQuery(since=since, until=until, descending=True, limit=CONFIDENCE_SAMPLE)
    )
    return ReportData(
        since=since,
        until=until,
        window_s=size,
        throughput=throughput,
        anomaly_rate=dict(sorted(by_type.items())),
        latency=merge_all(w.stats for w in fleet).latency,
        agents=agents,
        alerts=sorted(alerts, key=lambda a: a.raised_at),
        confidence_normal=[r.confidence for r in sample if not r.anomaly],
        confidence_anomalous=[r.confidence for r in sample if r.anomaly],
        heatmap=_heatmap(_windows(store, size, since, until, kind="sensor", light=True), size),
        judges=judge_split(store, since, now),
    )


def _heatmap(windows: list[WindowAggregate], size: int) -> Heatmap:
    by_sensor: dict[str, dict[float, float | None]] = {}
    starts: set[float] = set()
    for w in windows:
        by_sensor.setdefault(w.scope.split(":", 1)[1], {})[w.start] = w.stats.anomaly_rate
        starts.add(w.start)
    # The sensors with the most anomalous windows first, at most HEATMAP_SENSORS of them.
    ranked = sorted(by_sensor, key=lambda s: (-sum(v or 0 for v in by_sensor[s].values()), s))
    sensors = sorted(ranked[:HEATMAP_SENSORS])
    # Every window from the first to the last, so a gap shows as a gap.
    columns = (
        [float(t) for t in range(int(min(starts)), int(max(starts)) + size, size)] if starts else []
    )
    return Heatmap(sensors, columns, [[by_sensor[s].get(t) for t in columns] for s in sensors])
