"""Judging one inbound MQTT message: what it is, whom it is from, and whether to keep it.

Every way a message can be wrong ends as a ``Refused`` with a stable ``reason`` (the
``rejected`` counter label); nothing here raises for bad input. A refused batch whose
agent, epoch and seqs are known and match its topic carries an ``Ack(rejected=...)`` so
the agent stops resending something that will never be accepted; a message that cannot
be attributed is only counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from edgewatch.shared import wire
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.schemas import Ack, AgentStatus, Heartbeat, Hello, ResultBatch
from edgewatch.shared.topics import Kind, Topics


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_future_skew_s: float


@dataclass(frozen=True)
class Inbound:
    """A raw message as the network thread handed it over."""

    topic: str
    payload: bytes
    received_at: float
    retained: bool = False


@dataclass(frozen=True)
class Refused:
    reason: str
    agent_id: str | None
    detail: str = ""
    readings: int = 0
    ack: Ack | None = None
    payload: bytes | None = None  # kept in quarantine when the refusal is acked


FleetMessage = Hello | Heartbeat | AgentStatus
Judged = ResultBatch | FleetMessage | Refused

# Each kind's decoder accepts the current and the previous schema version (shared.wire).
_DECODERS: dict[Kind, Callable[..., ResultBatch | FleetMessage]] = {
    Kind.RESULTS: wire.decode_results,
    Kind.HELLO: wire.decode_hello,
    Kind.HEARTBEAT: wire.decode_heartbeat,
    Kind.STATUS: wire.decode_status,
}


def judge(msg: Inbound, topics: Topics, limits: Limits) -> Judged:
    """The validated payload of ``msg``, or why it was refused."""
    try:
        ref = topics.parse(msg.topic)
    except PayloadError as exc:
        return Refused(exc.reason, None, exc.detail)
    decoder = _DECODERS.get(ref.kind)
    if decoder is None:
        return Refused("bad_topic", ref.agent_id, f"unexpected kind {ref.kind.value}")
    try:
        payload = decoder(msg.payload, max_bytes=limits.max_bytes)
    except PayloadError as exc:
        return Refused(exc.reason, ref.agent_id, exc.detail)
    if payload.agent_id != ref.agent_id:
        detail = f"topic says {ref.agent_id!r}, payload says {payload.agent_id!r}"
        return Refused("agent_mismatch", ref.agent_id, detail)
    if isinstance(payload, ResultBatch):
        verdict = _check_times(payload, msg.received_at, limits)
        if isinstance(verdict, Refused):
            return replace(verdict, payload=msg.payload)
        return verdict
    # Fleet messages carry one timestamp; a clock far ahead would make an agent look
    # alive forever (last_seen in the future), so the same skew limit applies.
    ts = payload.ts
    if ts is not None and ts > msg.received_at + limits.max_future_skew_s:
        ahead = ts - msg.received_at
        return Refused("ts_future", ref.agent_id, f"ts is {ahead:.0f}s ahead")
    return payload


def _check_times(batch: ResultBatch, now: float, limits: Limits) -> ResultBatch | Refused:
    # The schema bounds ts to 2000..2100; this catches milliseconds sent as seconds and
    # clocks far ahead, which would otherwise poison every time-window query.
    newest = max(batch.ts)
    if newest <= now + limits.max_future_skew_s:
        return batch
    ack = Ack(
        schema_version=batch.schema_version,
        agent_id=batch.agent_id,
        epoch=batch.epoch,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        stored=0,
        duplicates=0,
        rejected="ts_future",
    )
    detail = f"ts {newest:.0f} is {newest - now:.0f}s ahead (limit {limits.max_future_skew_s:.0f}s)"
    return Refused("ts_future", batch.agent_id, detail, readings=batch.size, ack=ack)
