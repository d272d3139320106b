"""Real sensors read from a site MQTT broker: one topic per sensor, JSON readings.

Each sensor (or the PLC bridge, Node-RED flow or Tasmota/ESPHome device behind it)
publishes its readings to its own topic on the site broker; the agent that owns the
sensor subscribes to that topic (``SiteSource.topic`` of its desired state). A payload is
one reading or a list of them (a burst)::

    {"ts": 1767225600.25, "metrics": {"temperature": 21.5, "humidity": 40.1},
     "status": "normal", "label": 0}

``metrics`` is required (1 to 64 names of ``[A-Za-z0-9_. ()/%-]``, finite numbers);
``ts`` (epoch seconds, 2000..2100) is optional and stamped on arrival when absent;
``status`` (``normal``/``warning``/``alert``) and ``label`` (0/1, ground truth, for test
rigs such as ``edgewatch simulate``) are optional. Nothing else is accepted.

A payload that does not parse is counted per sensor by reason (``bad``) and logged
rate-limited, never raised. Retained copies, which the broker hands out at every
(re)subscription, are old readings and are skipped (``retained``).

Threads: paho's network thread only stamps the arrival time and puts the raw message on
a bounded queue (full: dropped, counted, warned); the agent's worker parses in ``take``.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field, TypeAdapter

from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.codec import decode, decode_as
from edgewatch.shared.desired import AssignedSensor, SiteSource
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink, MqttVersion
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.schemas import MAX_METRICS, Label, MetricName, Status, Timestamp, WireModel

__all__ = ["MAX_BURST", "MAX_PAYLOAD_BYTES", "SitePayload", "SiteReader", "SiteReading"]

log = logging.getLogger(__name__)
MAX_BURST = 1000  # readings in one list payload
MAX_PAYLOAD_BYTES = 256 * 1024
QUEUE_MAX = 10_000  # messages waiting for the worker
BAD_LOG_INTERVAL_S = 30.0
SUBSCRIBE_QOS = 1


class SitePayload(WireModel):
    """One reading as a site sensor publishes it."""

    ts: Timestamp | None = None  # absent: stamped on arrival
    metrics: dict[MetricName, float] = Field(min_length=1, max_length=MAX_METRICS)
    status: Status | None = None
    label: Label | None = None


_BURST: TypeAdapter[list[SitePayload]] = TypeAdapter(
    Annotated[list[SitePayload], Field(min_length=1, max_length=MAX_BURST)]
)


def parse_payload(payload: bytes) -> list[SitePayload]:
    """The readings in one message, or ``PayloadError(reason)`` (``shared.codec`` reasons)."""
    if payload.lstrip()[:1] == b"[":
        return decode_as(payload, _BURST, max_bytes=MAX_PAYLOAD_BYTES)
    return [decode(payload, SitePayload, max_bytes=MAX_PAYLOAD_BYTES)]


@dataclass(frozen=True, slots=True)
class SiteReading:
    sensor_id: str
    sensor_type: str
    ts: float
    metrics: dict[str, float]
    status: str | None
    label: int | None


def batch_of(readings: Sequence[SiteReading]) -> ReadingBatch:
    """Site readings as one batch; a metric a reading lacks is NaN there."""
    names = list(dict.fromkeys(m for r in readings for m in r.metrics))
    nan = float("nan")
    return ReadingBatch(
        sensor_id=[r.sensor_id for r in readings],
        sensor_type=[r.sensor_type for r in readings],
        ts=np.array([r.ts for r in readings], dtype=np.float64),
        metrics={
            m: np.array([r.metrics.get(m, nan) for r in readings], dtype=np.float64) for m in names
        },
        status=[r.status for r in readings],
        label=[r.label for r in readings],
    )


class SiteReader:
    """Readings of the site sensors assigned to this agent, from one site broker link.

    ``assign`` sets the sensors (subscribing and unsubscribing at once, replayed on every
    reconnect); ``take`` parses what arrived. Both run on the agent's worker thread.
    Counters are cumulative since start and keep sensors that were removed.
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        protocol: MqttVersion = "auto",
        keepalive: int = 10,
        queue_max: int = QUEUE_MAX,
        clock: Clock = SYSTEM,
    ) -> None:
        self.address = address
        self._clock = clock
        self._queue: queue.Queue[tuple[str, bytes, bool, float]] = queue.Queue(queue_max)
        # A clean session: live sensors are read live; while the link is down nothing
        # queues on the broker for us (a gap, counted where the nominal rate is known).
        options = LinkOptions(
            client_id=client_id, protocol=protocol, keepalive=keepalive, session_expiry_s=0
        )
        self._link = MqttLink(address, options, on_message=self._on_message, logger=log)
        self._sensors: dict[str, AssignedSensor] = {}  # topic -> sensor
        self._last_ts: dict[str, float] = {}
        self._warn = RateLimitedLog(log, BAD_LOG_INTERVAL_S, clock=clock)
        self.bad: dict[str, dict[str, int]] = {}  # sensor id -> reason -> payloads refused
        self.received: dict[str, int] = {}  # sensor id -> readings taken
        self.gaps: dict[str, int] = {}  # sensor id -> readings missing at its nominal rate
        self.dropped_full = 0  # messages dropped because the worker fell behind
        self.retained = 0  # retained copies skipped
        self.unassigned = 0  # messages for a topic no sensor (no longer) reads

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def pending(self) -> bool:
        """Messages are waiting for ``take``."""
        return not self._queue.empty()

    def start(self) -> None:
        self._link.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._link.stop(timeout)

    def wait_connected(self, timeout: float) -> bool:
        return self._link.wait_connected(timeout)

    def assign(self, sensors: Iterable[AssignedSensor]) -> None:
        """Read exactly ``sensors`` (each with a ``SiteSource``) from now on."""
        wanted = {s.source.topic: s for s in sensors if isinstance(s.source, SiteSource)}
        for topic in self._sensors.keys() - wanted.keys():
            self._link.unsubscribe(topic)
            # Readings after a later re-assignment are not a gap of ours.
            self._last_ts.pop(self._sensors[topic].sensor_id, None)
        for topic in wanted.keys() - self._sensors.keys():
            self._link.subscribe(topic, SUBSCRIBE_QOS)
        self._sensors = wanted
        log.info("site broker %s: reading %d topic(s)", self.address.url(), len(wanted))

    def take(self, max_n: int) -> list[SiteReading]:
        """Readings that arrived, parsed, for about ``max_n`` (a burst is never split)."""
        out: list[SiteReading] = []
        while len(out) < max_n:
            try:
                topic, payload, retained, arrived = self._queue.get_nowait()
            except queue.Empty:
                break
            out.extend(self._read(topic, payload, retained, arrived))
        return out

    def _read(
        self, topic: str, payload: bytes, retained: bool, arrived: float
    ) -> list[SiteReading]:
        sensor = self._sensors.get(topic)
        if sensor is None:
            self.unassigned += 1
            return []
        if retained:
            self.retained += 1
            return []
        sid = sensor.sensor_id
        try:
            items = parse_payload(payload)
        except PayloadError as exc:
            per = self.bad.setdefault(sid, {})
            per[exc.reason] = per.get(exc.reason, 0) + 1
            self._warn.warning(
                f"{sid}:{exc.reason}",
                "site sensor %s sent a bad payload on %s: %s",
                sid,
                topic,
                exc,
            )
            return []
        readings = [
            SiteReading(
                sid,
                sensor.sensor_type,
                arrived if p.ts is None else p.ts,
                dict(p.metrics),
                p.status,
                p.label,
            )
            for p in items
        ]
        self.received[sid] = self.received.get(sid, 0) + len(readings)
        if isinstance(sensor.source, SiteSource) and sensor.source.rate_hz is not None:
            self._count_gaps(sid, sensor.source.rate_hz, readings)
        return readings

    def _count_gaps(self, sid: str, rate: float, readings: list[SiteReading]) -> None:
        """Readings missing between consecutive ones, at the sensor's nominal rate."""
        last = self._last_ts.get(sid)
        for r in readings:
            if last is not None and r.ts > last:
                missing = round((r.ts - last) * rate) - 1
                if missing > 0:
                    self.gaps[sid] = self.gaps.get(sid, 0) + missing
            last = r.ts if last is None else max(last, r.ts)
        if last is not None:
            self._last_ts[sid] = last

    # paho's network thread: stamp and hand off, nothing else.
    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            self._queue.put_nowait((topic, payload, retained, self._clock.time()))
        except queue.Full:
            self.dropped_full += 1
            self._warn.warning(
                "queue_full",
                "site broker messages dropped: %d waiting for the agent (%d dropped so far)",
                self._queue.maxsize,
                self.dropped_full,
            )
