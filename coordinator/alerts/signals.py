"""The values alert rules watch, per scope, read from the aggregates, the fleet registry,
the fleet duty and the store's counters at the engine's tick.

Windowed metrics (``anomaly_rate``, ``latency_p95_s``) sum the 1-minute windows that
overlap the last ``window`` (the current, still-filling minute included): whole minutes,
so a 5-minute rule looks at 5 to 6 minutes of readings. Latency of an agent is corrected
by its clock offset (``ClockSkew``), estimated from its heartbeats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edgewatch.coordinator.aggregates.latency import quantile
from edgewatch.coordinator.aggregates.records import AggregateQuery
from edgewatch.coordinator.aggregates.stats import WindowStats
from edgewatch.coordinator.alerts.rules import Rule
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store import Store

DAY = 86_400.0
Values = dict[str, float | None]


@dataclass
class ClockSkew:
    """Each agent's clock offset (its clock minus ours), from its heartbeats.

    One heartbeat says ``ts`` (agent clock at sending) and we note when it arrived:
    ``ts - received = offset - transit``. The largest of the last ``keep`` samples has
    the shortest transit, so it is the best estimate (NTP's minimum-delay filter).
    """

    keep: int = 8
    _samples: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)

    def observe(self, record: AgentRecord) -> None:
        beat, at = record.heartbeat, record.heartbeat_at
        if not beat or at is None or not isinstance(beat.get("ts"), int | float):
            return
        q = self._samples.setdefault(record.id, deque(maxlen=self.keep))
        if q and q[-1][0] == at:
            return
        q.append((at, float(beat["ts"]) - at))

    def offset(self, agent_id: str) -> float | None:
        q = self._samples.get(agent_id)
        return max(s for _, s in q) if q else None


@dataclass
class Availability:
    """Per agent, when it was up or down (sampled at each tick), over the last hour."""

    _timeline: dict[str, deque[tuple[float, bool]]] = field(default_factory=dict)

    def observe(self, agent_id: str, up: bool, now: float) -> None:
        q = self._timeline.setdefault(agent_id, deque())
        if not q or q[-1][1] != up:
            q.append((now, up))
        while len(q) > 1 and q[1][0] < now - 3600:
            q.popleft()

    def share(self, agent_id: str, window_s: float, now: float) -> float | None:
        """Time-weighted share of the window it was up (since first seen, if later)."""
        q = self._timeline.get(agent_id)
        if not q:
            return None
        start = max(now - window_s, q[0][0])
        if now <= start:
            return 1.0 if q[-1][1] else 0.0
        up = 0.0
        points = list(q)
        for i, (t, state) in enumerate(points):
            end = points[i + 1][0] if i + 1 < len(points) else now
            lo, hi = max(t, start), min(end, now)
            if state and hi > lo:
                up += hi - lo
        return up / (now - start)


class Signals:
    """Computes ``values(rule, now)`` for the engine's tick (one thread)."""

    def __init__(
        self,
        store: Store,
        agents: Callable[[], list[AgentRecord]],
        *,
        timeout_s: float,
        converge_lag: Callable[[str], float | None] | None = None,
        assigned: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self._store = store
        self._agents = agents
        self.timeout_s = timeout_s
        self._converge_lag = converge_lag
        self._assigned = assigned
        self.skew = ClockSkew()
        self.availability = Availability()
        self._rejects: deque[tuple[float, int]] = deque()
        self._records: list[AgentRecord] = []
        self._up: set[str] = set()

    def is_up(self, r: AgentRecord, now: float) -> bool:
        seen = r.heartbeat_at if r.heartbeat_at is not None else r.last_seen
        return r.state == "online" and now - seen <= self.timeout_s

    def sample(self, now: float) -> None:
        """Once per tick: the fleet as it is now."""
        self._records = self._agents()
        self._up = {r.id for r in self._records if self.is_up(r, now)}
        for r in self._records:
            self.availability.observe(r.id, r.id in self._up, now)
            self.skew.observe(r)
        total = sum(self._store.counters().fleet.rejected.values())
        self._rejects.append((now, total))
        while len(self._rejects) > 1 and self._rejects[1][0] <= now - 3600:
            self._rejects.popleft()

    def values(self, rule: Rule, now: float) -> Values:
        m = rule.metric
        if m in ("anomaly_rate", "latency_p95_s"):
            return self._windowed(rule, now)
        if m == "agent_availability":
            # Agents gone for more than a day are not judged again (a restart would
            # otherwise raise every agent ever seen); an alert still open stays open.
            return {
                r.id: self.availability.share(r.id, rule.window_s, now)
                for r in self._records
                if r.last_seen >= now - DAY
            }
        if m == "fleet_availability":
            known = [r for r in self._records if r.last_seen >= now - DAY]
            return {
                "": (len([r for r in known if r.id in self._up]) / len(known)) if known else None
            }
        if m == "battery_percent":
            return {r.id: _beat(r, "battery_percent") for r in self._records if r.id in self._up}
        if m == "outbox_oldest_age_s":
            return {
                r.id: _beat(r, "outbox_oldest_age_s") for r in self._records if r.id in self._up
            }
        if m == "clock_skew_s":
            return {
                r.id: None if (o := self.skew.offset(r.id)) is None else abs(o)
                for r in self._records
                if r.id in self._up
            }
        if m == "sensor_silence_s":
            return self._silence(now)
        if m == "ingest_rejects_per_min":
            return {"": self._reject_rate(rule.window_s, now)}
        if m == "converge_lag_s" and self._converge_lag is not None:
            return {r.id: self._converge_lag(r.id) for r in self._records if r.id in self._up}
        return {}

    def _windowed(self, rule: Rule, now: float) -> Values:
        since = int((now - rule.window_s) // 60) * 60
        windows = self._store.aggregates(
            AggregateQuery(
                size_s=60, scope_kind=rule.scope, since=since, limit=1_000_000, light=True
            )
        )
        merged: dict[str, WindowStats] = {}
        for w in windows:
            scope = "" if w.scope == "fleet" else w.scope.partition(":")[2]
            merged[scope] = merged[scope].merge(w.stats) if scope in merged else w.stats
        out: Values = {}
        for scope, stats in merged.items():
            if stats.count < rule.min_count:
                out[scope] = None
            elif rule.metric == "anomaly_rate":
                out[scope] = stats.anomaly_rate
            else:
                p95 = quantile(stats.latency, 0.95)
                offset = self.skew.offset(scope) if rule.scope == "agent" else None
                out[scope] = None if p95 is None else max(0.0, p95 + (offset or 0.0))
        return out

    def _silence(self, now: float) -> Values:
        if self._assigned is None:
            return {}
        out: Values = {}
        placed = {s: p.since for s, p in self._store.placements().items()}
        seen = {s.sensor_id: s.last_stored_at for s in self._store.sensors()}
        for sensor_id, agent_id in self._assigned().items():
            if agent_id not in self._up:
                continue  # its agent is down: agent_offline says so, once
            since = placed.get(sensor_id, now)
            last = seen.get(sensor_id)
            out[sensor_id] = now - max(since, last if last is not None else since)
        return out

    def _reject_rate(self, window_s: float, now: float) -> float | None:
        if len(self._rejects) < 2:
            return None
        t_now, total_now = self._rejects[-1]
        old = next(((t, n) for t, n in self._rejects if t >= now - window_s), self._rejects[0])
        span = t_now - old[0]
        if span <= 0:
            return None
        return (total_now - old[1]) / (max(span, window_s) / 60.0)


def _beat(r: AgentRecord, key: str) -> float | None:
    value = (r.heartbeat or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
