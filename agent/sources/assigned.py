"""The sensors the coordinator assigns (``--source assigned``), changeable at runtime.

``AssignedSource`` runs exactly the sensors of the agent's desired state
(``shared.desired.AssignedSensor``); ``apply`` adds and removes sensors without a
restart:

* a **simulated** sensor runs on its own clock (``sensor_clock.SensorClockStream``):
  added at wall time ``now``, it starts at the first reading due at or after ``now``
  (``j = ceil((now - t0) * rate_hz)``); re-applied unchanged, it keeps going; removed,
  it stops. Reading ``j`` is due at ``t0 + j / rate_hz``;
* a **site** sensor is read from the site broker (``site.SiteReader``).

``poll(max_n)`` returns the readings due now across all sensors, in ``ts`` order, at
most ``max_n``; the rest stay due for the next poll. Unlike the ``Pacer``, a clocked
source never forfeits a reading because a poll was late, but it bounds catch-up: a
simulated reading older than ``max_lag_s`` (60 s) when polled is skipped, and counted
per sensor in ``gaps``. So after an agent stalls for five minutes it sends the last
minute of each sensor, and the other four are a counted gap.

``position`` counts the readings emitted (starting at ``start``, what the outbox stored),
only so it stays monotonic: after a restart every sensor starts again at "now", since the
readings missed meanwhile belong to whoever owned the sensor (or to nobody).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgewatch.agent.sources.base import SensorInfo
from edgewatch.agent.sources.clocked import ClockedSensors
from edgewatch.agent.sources.fleet_model import IntArray
from edgewatch.agent.sources.sensor_clock import SensorClockStream
from edgewatch.agent.sources.site import SiteReader, SiteReading, batch_of
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.desired import AssignedSensor, SimulatedSource, SiteSource
from edgewatch.shared.mqtt import BrokerAddress, MqttVersion
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.readings import ReadingBatch

__all__ = ["DEFAULT_MAX_LAG_S", "AssignedCounters", "AssignedSource", "open_assigned"]

log = logging.getLogger(__name__)
DEFAULT_MAX_LAG_S = 60.0
SITE_POLL_S = 0.05  # poll this often while site sensors are assigned (arrival latency)
# The shortest wait hinted while nothing is due: many fast sensors on staggered clocks are
# then polled in batches, at most ~100 times a second, not once per reading (the agent
# lingers 50 ms over a batch anyway).
MIN_WAIT_S = 0.01
IDLE_S = 1.0  # wait hint with nothing assigned


@dataclass(frozen=True)
class AssignedCounters:
    """What the heartbeat reports of the assigned sensors (cumulative since start)."""

    gaps: dict[str, int] = field(default_factory=dict)  # sensor -> readings missed
    bad_payloads: dict[str, dict[str, int]] = field(default_factory=dict)  # sensor -> reason
    site_queue_full: int = 0  # site messages dropped: the worker fell behind
    site_retained: int = 0  # retained copies skipped (old readings)
    site_unassigned: int = 0  # site messages for a topic no sensor reads (any more)


class AssignedSource:
    """A ``Source`` (and ``AssignableSource``) over the sensors of the desired state.

    >>> from edgewatch.shared.clock import ManualClock
    >>> from edgewatch.shared.desired import AssignedSensor, SimulatedSource
    >>> clock = ManualClock(wall=1_800_000_000.0)
    >>> src = AssignedSource(clock=clock)
    >>> sim = SimulatedSource(seed=1, number=3, rate_hz=2.0, t0=1_800_000_000.0)
    >>> src.apply([AssignedSensor(sensor_id="SENSOR_003", sensor_type="medical", source=sim)])
    []
    >>> clock.advance(1.0)
    >>> src.poll(10).ts.tolist(), src.active(), src.wait_hint()
    ([1800000000.0, 1800000000.5, 1800000001.0], ['SENSOR_003'], 0.5)
    """

    def __init__(
        self,
        *,
        site: SiteReader | None = None,
        start: int = 0,
        max_lag_s: float = DEFAULT_MAX_LAG_S,
        clock: Clock = SYSTEM,
    ) -> None:
        if max_lag_s <= 0 or not math.isfinite(max_lag_s):
            raise ValueError(f"max_lag_s must be finite and > 0, got {max_lag_s}")
        self.site = site
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._position = start
        self._assigned: dict[str, AssignedSensor] = {}
        self._clocks = ClockedSensors([], [])
        self._backlog: deque[SiteReading] = deque()  # site readings taken, not yet emitted
        self._site_assigned = False
        self._gaps: dict[str, int] = {}
        self._lag_log = RateLimitedLog(log, 30.0, clock=clock)

    # -- the Source contract --------------------------------------------------------------

    @property
    def sensors(self) -> list[SensorInfo]:
        streams = {s.sensor_id: s for s in self._clocks.streams}
        out = []
        for sid in self.active():
            a = self._assigned[sid]
            model = streams[sid].info if sid in streams else None
            lat = a.latitude if a.latitude is not None or model is None else model.latitude
            lon = a.longitude if a.longitude is not None or model is None else model.longitude
            out.append(SensorInfo(sid, a.sensor_type, lat, lon))
        return out

    @property
    def position(self) -> int:
        return self._position

    def poll(self, max_n: int) -> ReadingBatch:
        """Up to ``max_n`` readings due now, in ``ts`` order (never None: no end)."""
        if max_n <= 0:
            return batch_of([])
        now = self._clock.time()
        self._bound_lag(now)
        counts = self._clocks.due(now, max_n)
        site = self._take_site(max_n)
        counts, site = self._first_n(counts, site, max_n)
        batch = self._clocks.emit(counts)
        if site:
            pieces = [batch_of(site)] if batch is None else [batch, batch_of(site)]
            batch = ReadingBatch.concat(pieces)
            batch = batch.take(np.argsort(batch.ts, kind="stable"))
        if batch is None:
            return batch_of([])
        self._position += len(batch)
        return batch

    def wait_hint(self) -> float:
        """Seconds until the next reading is due: 0 if one is, else at least 10 ms."""
        if self._backlog or (self.site is not None and self.site.pending):
            return 0.0
        hint = math.inf
        if len(self._clocks):
            hint = float(self._clocks.next_ts().min()) - self._clock.time()
            if hint <= 0:
                return 0.0
        if self._site_assigned:
            hint = min(hint, SITE_POLL_S)
        return IDLE_S if hint == math.inf else max(MIN_WAIT_S, hint)

    # -- the AssignableSource contract ----------------------------------------------------

    def check(self, sensors: Sequence[AssignedSensor]) -> list[str]:
        """Why ``sensors`` cannot all be run here (empty: they can); changes nothing."""
        return self._plan(sensors)[1]

    def apply(self, sensors: Sequence[AssignedSensor]) -> list[str]:
        """Run exactly ``sensors`` from now on (those that can run); the problems met."""
        wanted, errors = self._plan(sensors)
        now = self._clock.time()
        kept = self._clocks.positions()
        streams, next_j = [], []
        for sid in sorted(wanted):
            a = wanted[sid]
            if not isinstance(a.source, SimulatedSource):
                continue
            old_stream, j = kept.get(sid, (None, 0))
            if old_stream is not None and old_stream.source == a.source:
                # The same stream goes on (under a new type label, if that changed).
                stream = old_stream
                if stream.sensor_type != a.sensor_type:
                    stream = SensorClockStream(a.source, sid, a.sensor_type)
            else:  # new, or another stream: start at the reading due now
                stream = SensorClockStream(a.source, sid, a.sensor_type)
                j = stream.next_index(now)
            streams.append(stream)
            next_j.append(j)
        self._clocks = ClockedSensors(streams, next_j)
        site_ids = {sid for sid, a in wanted.items() if isinstance(a.source, SiteSource)}
        if self.site is not None:
            self.site.assign(wanted[sid] for sid in sorted(site_ids))
        self._backlog = deque(r for r in self._backlog if r.sensor_id in site_ids)
        self._site_assigned = bool(site_ids)
        added = wanted.keys() - self._assigned.keys()
        removed = self._assigned.keys() - wanted.keys()
        self._assigned = wanted
        log.info(
            "assigned sensors: %d simulated, %d site (%d added, %d removed)",
            len(streams),
            len(site_ids),
            len(added),
            len(removed),
        )
        return errors

    def active(self) -> list[str]:
        return sorted(self._assigned)

    # -- counters and lifecycle -----------------------------------------------------------

    def bad_payloads(self) -> dict[str, dict[str, int]]:
        """Site payloads refused, per sensor and reason (``shared.codec`` reasons)."""
        if self.site is None:
            return {}
        return {sid: dict(reasons) for sid, reasons in self.site.bad.items()}

    def counters(self) -> AssignedCounters:
        gaps = dict(self._gaps)
        if self.site is None:
            return AssignedCounters(gaps=gaps)
        for sid, n in self.site.gaps.items():
            gaps[sid] = gaps.get(sid, 0) + n
        return AssignedCounters(
            gaps=gaps,
            bad_payloads=self.bad_payloads(),
            site_queue_full=self.site.dropped_full,
            site_retained=self.site.retained,
            site_unassigned=self.site.unassigned,
        )

    def problems(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        counters = self.counters()
        return counters.gaps, counters.bad_payloads

    def close(self) -> None:
        """Stop reading the site broker (the agent calls it when it stops)."""
        if self.site is not None:
            self.site.stop()

    # -- internals ------------------------------------------------------------------------

    def _plan(
        self, sensors: Sequence[AssignedSensor]
    ) -> tuple[dict[str, AssignedSensor], list[str]]:
        wanted: dict[str, AssignedSensor] = {}
        topics: dict[str, str] = {}
        errors: list[str] = []
        for a in sensors:
            sid = a.sensor_id
            if sid in wanted:
                errors.append(f"sensor {sid} is assigned twice (the first is run)")
                continue
            if isinstance(a.source, SiteSource):
                if self.site is None:
                    errors.append(f"sensor {sid} is read from a site broker, and none is set")
                    continue
                other = topics.setdefault(a.source.topic, sid)
                if other != sid:
                    errors.append(f"sensor {sid}: topic {a.source.topic} is {other}'s already")
                    continue
            wanted[sid] = a
        return wanted, errors

    def _bound_lag(self, now: float) -> None:
        """Skip simulated readings older than ``max_lag_s``, counted as a gap."""
        skipped = self._clocks.skip_before(now - self.max_lag_s)
        for sid, n in skipped.items():
            self._gaps[sid] = self._gaps.get(sid, 0) + n
        if skipped:
            self._lag_log.warning(
                "lag",
                "%d sensor(s) fell more than %.0f s behind: %d reading(s) skipped (a gap)",
                len(skipped),
                self.max_lag_s,
                sum(skipped.values()),
            )

    def _take_site(self, max_n: int) -> list[SiteReading]:
        if self.site is not None and len(self._backlog) < max_n:
            self._backlog.extend(self.site.take(max_n - len(self._backlog)))
        return [self._backlog.popleft() for _ in range(min(max_n, len(self._backlog)))]

    def _first_n(
        self, counts: IntArray, site: list[SiteReading], max_n: int
    ) -> tuple[IntArray, list[SiteReading]]:
        """The ``max_n`` earliest of the due readings; the site readings left wait."""
        if int(counts.sum()) + len(site) <= max_n:
            return counts, site
        owner, ts = self._clocks.candidates(counts)
        ts = np.concatenate([ts, [r.ts for r in site]])
        chosen = np.argsort(ts, kind="stable")[:max_n]
        sim_chosen = chosen[chosen < len(owner)]
        taken = np.bincount(owner[sim_chosen], minlength=len(counts)).astype(np.int64)
        keep = np.zeros(len(site), dtype=np.bool_)
        keep[chosen[chosen >= len(owner)] - len(owner)] = True
        kept = [r for r, k in zip(site, keep.tolist(), strict=True) if k]
        left = [r for r, k in zip(site, keep.tolist(), strict=True) if not k]
        self._backlog.extendleft(reversed(left))  # back in front, in arrival order
        return taken, kept


def open_assigned(
    *,
    site_broker: str | None,
    client_id: str,
    start: int = 0,
    protocol: MqttVersion = "auto",
    keepalive: int = 10,
    max_lag_s: float = DEFAULT_MAX_LAG_S,
    clock: Clock = SYSTEM,
) -> AssignedSource:
    """An ``AssignedSource`` with nothing assigned yet, reading ``site_broker`` if set."""
    site = None
    if site_broker is not None:
        site = SiteReader(
            BrokerAddress.parse(site_broker),
            client_id=client_id,
            protocol=protocol,
            keepalive=keepalive,
            clock=clock,
        )
        site.start()
    return AssignedSource(site=site, start=start, max_lag_s=max_lag_s, clock=clock)
