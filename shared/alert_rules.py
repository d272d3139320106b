"""Alert rule mechanics shared by the edge and the coordinator: the same code on both.

``Levels`` says when a value is bad (``raise_at``) and when it is good again (``clear_at``,
on the other side of ``raise_at``: the gap between them is the hysteresis), and how long
it must stay bad before an alert is raised (``for_s``, as Prometheus' ``for``).
``Hysteresis`` walks one scope's values through those levels on an injected time and
says when to raise and when to clear: a value oscillating around ``raise_at`` raises once
and clears only once it crosses ``clear_at``, never a storm.

The edge's own rules (``EdgeRules``): ``critical_anomaly`` (a reading judged anomalous
with confidence >= a level) and a per-sensor anomaly rate over a sliding window, both
evaluated on each scored micro-batch.

>>> h = Hysteresis(Levels(raise_at=0.15, clear_at=0.10, above=True, for_s=0))
>>> [h.observe("s", v, t) for t, v in enumerate([0.1, 0.2, 0.14, 0.16, 0.09])]
[None, 'raise', None, None, 'clear']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Verdict = Literal["raise", "clear"]


@dataclass(frozen=True, slots=True)
class Levels:
    raise_at: float
    clear_at: float
    above: bool = True  # bad when above raise_at (else: when below it)
    for_s: float = 0.0

    def __post_init__(self) -> None:
        if self.above and self.clear_at > self.raise_at:
            raise ValueError(f"clear level {self.clear_at} above raise level {self.raise_at}")
        if not self.above and self.clear_at < self.raise_at:
            raise ValueError(f"clear level {self.clear_at} below raise level {self.raise_at}")
        if self.for_s < 0:
            raise ValueError("for must be >= 0")

    def bad(self, value: float) -> bool:
        return value > self.raise_at if self.above else value < self.raise_at

    def good(self, value: float) -> bool:
        return value <= self.clear_at if self.above else value >= self.clear_at


@dataclass
class _State:
    firing: bool = False
    bad_since: float | None = None


class Hysteresis:
    """Per-scope state of one rule. ``observe`` returns ``raise``, ``clear`` or None."""

    def __init__(self, levels: Levels) -> None:
        self.levels = levels
        self._states: dict[str, _State] = {}

    def firing(self, scope: str) -> bool:
        state = self._states.get(scope)
        return state is not None and state.firing

    def set_firing(self, scope: str, firing: bool) -> None:
        """Restore (or override) what is known: an alert open in the store, a hand clear."""
        state = self._states.setdefault(scope, _State())
        state.firing, state.bad_since = firing, None

    def scopes(self) -> list[str]:
        return [s for s, st in self._states.items() if st.firing or st.bad_since is not None]

    def observe(self, scope: str, value: float | None, now: float) -> Verdict | None:
        """``value`` of ``scope`` at ``now``; None means "no data" (changes nothing but a
        pending ``for``: it must be bad continuously)."""
        state = self._states.setdefault(scope, _State())
        if value is None:
            state.bad_since = None
            return None
        lv = self.levels
        if state.firing:
            if lv.good(value):
                state.firing, state.bad_since = False, None
                return "clear"
            return None
        if not lv.bad(value):
            state.bad_since = None
            return None
        if state.bad_since is None:
            state.bad_since = now
        if now - state.bad_since >= lv.for_s:
            state.firing, state.bad_since = True, None
            return "raise"
        return None


def is_critical(anomaly: bool, confidence: float, level: float) -> bool:
    """``critical_anomaly``: judged anomalous, with at least ``level`` confidence."""
    return anomaly and confidence >= level


class SlidingRate:
    """Share of anomalous readings per sensor over the last ``window_s`` (by reading
    time), in one-second buckets: bounded memory per sensor whatever the rate."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._buckets: dict[str, deque[list[float]]] = {}

    def add(self, sensor: str, ts: float, anomaly: bool) -> None:
        self.add_counts(sensor, float(int(ts)), 1, float(anomaly))

    def add_counts(self, sensor: str, second: float, n: int, anomalies: float) -> None:
        """``n`` readings (``anomalies`` of them anomalous) of one second of ``sensor``."""
        q = self._buckets.setdefault(sensor, deque())
        if q and q[-1][0] == second:
            q[-1][1] += n
            q[-1][2] += anomalies
        elif not q or second > q[-1][0]:
            q.append([second, n, anomalies])
        else:  # out of order within the window: find its bucket (rare, short scan)
            for b in reversed(q):
                if b[0] == second:
                    b[1] += n
                    b[2] += anomalies
                    break
            else:
                if second > q[-1][0] - self.window_s:
                    q.append([second, n, anomalies])
                    ordered = sorted(q)
                    q.clear()
                    q.extend(ordered)
        newest = q[-1][0]
        while q and q[0][0] <= newest - self.window_s:
            q.popleft()

    def rate(self, sensor: str) -> tuple[float | None, int]:
        q = self._buckets.get(sensor)
        if not q:
            return None, 0
        n = int(sum(b[1] for b in q))
        return (sum(b[2] for b in q) / n if n else None), n


@dataclass(frozen=True, slots=True)
class EdgeAlertConfig:
    """What the edge evaluates (``ConfigOverrides.alerts`` of the desired state sets it)."""

    enabled: bool = True
    critical_confidence: float = 0.9
    critical_clear_s: float = 60.0
    rate_window_s: float = 300.0
    rate_raise: float = 0.15
    rate_clear: float = 0.10
    rate_min_count: int = 60


@dataclass(frozen=True, slots=True)
class EdgeFinding:
    """A transition the edge found: rule, sensor, raise/clear, when, the value."""

    rule: str
    sensor_id: str
    sensor_type: str
    verdict: Verdict
    ts: float
    value: float


@dataclass
class EdgeRules:
    """The edge's rules over scored batches (``observe``) and the clock (``tick``)."""

    config: EdgeAlertConfig = field(default_factory=EdgeAlertConfig)
    _rate: SlidingRate = field(init=False)
    _rate_h: Hysteresis = field(init=False)
    _critical_last: dict[str, tuple[float, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.configure(self.config)

    def configure(self, config: EdgeAlertConfig) -> None:
        self.config = config
        self._rate = SlidingRate(config.rate_window_s)
        self._rate_h = Hysteresis(Levels(config.rate_raise, config.rate_clear, True, 0.0))

    def observe(
        self,
        sensor_id: Sequence[str],
        sensor_type: Sequence[str],
        ts: Sequence[float],
        anomaly: Sequence[bool],
        confidence: Sequence[float],
        now: float,
    ) -> list[EdgeFinding]:
        if not self.config.enabled:
            return []
        found: list[EdgeFinding] = []
        c = self.config
        if not len(sensor_id):
            return found
        # Per batch, not per reading: the rate is counted per (sensor, second) at once.
        codes: dict[str, int] = {}
        idx = np.fromiter((codes.setdefault(s, len(codes)) for s in sensor_id), np.int64)
        t = np.asarray(ts, dtype=np.float64)
        bad = np.asarray(anomaly, dtype=bool)
        conf = np.asarray(confidence, dtype=np.float64)
        seconds = np.floor(t)
        key = idx * 4_000_000_000 + seconds.astype(np.int64)
        uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
        anom = np.bincount(np.searchsorted(uniq, key), weights=bad.astype(np.float64))
        names = list(codes)
        for k, i, n, a in zip(
            uniq.tolist(), first.tolist(), counts.tolist(), anom.tolist(), strict=True
        ):
            self._rate.add_counts(names[k // 4_000_000_000], float(seconds[i]), n, a)
        touched: dict[str, tuple[str, float]] = {}
        codes_rev, at_rev = np.unique(idx[::-1], return_index=True)
        for k, j in zip(codes_rev.tolist(), at_rev.tolist(), strict=True):
            i = len(t) - 1 - j  # the sensor's last reading in this batch
            touched[names[k]] = (sensor_type[i], float(t[i]))
        for i in np.flatnonzero(bad & (conf >= c.critical_confidence)).tolist():
            sid, stype = sensor_id[i], sensor_type[i]
            if sid not in self._critical_last:
                found.append(
                    EdgeFinding(
                        "critical_anomaly", sid, stype, "raise", float(t[i]), float(conf[i])
                    )
                )
            self._critical_last[sid] = (now, stype)
        for sid, (stype, ts_) in touched.items():
            rate, n = self._rate.rate(sid)
            if rate is None or n < c.rate_min_count:
                continue
            verdict = self._rate_h.observe(sid, rate, now)
            if verdict is not None:
                found.append(EdgeFinding("high_anomaly_rate", sid, stype, verdict, ts_, rate))
        return found

    def tick(self, now: float) -> list[EdgeFinding]:
        """Clear ``critical_anomaly`` of sensors quiet for ``critical_clear_s``."""
        out = []
        for sid, (last, stype) in list(self._critical_last.items()):
            if now - last >= self.config.critical_clear_s:
                del self._critical_last[sid]
                out.append(EdgeFinding("critical_anomaly", sid, stype, "clear", now, 0.0))
        return out
