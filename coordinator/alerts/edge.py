"""Alert events raised at the edge, as the coordinator takes them in.

An agent's ``EdgeAlertBatch`` (``shared.alert_schema``) arrives on its ``alerts`` topic;
it is validated (the agent id in the payload must be the topic's), each event stored once
by ``(agent_id, epoch, seq)`` and applied to the alert of its dedupe key (the same key
the coordinator's own rules use, so an alert seen by both sides is one alert with two
sources), committed, then acked on the agent's ``alerts_ack`` topic. A resend after an
outage is acked again and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson

from edgewatch.coordinator.alerts.engine import AlertEngine, scope_of
from edgewatch.coordinator.alerts.records import Change, EdgeReceipt, dedupe_key
from edgewatch.shared.alert_schema import EdgeAlert, EdgeAlertAck, EdgeAlertBatch
from edgewatch.shared.codec import decode, encode
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)
MAX_BYTES = 512 * 1024


def changes_of(receipt: EdgeReceipt) -> list[Change]:
    event = EdgeAlert.model_validate_json(receipt.payload)
    scope = scope_of("sensor", event.sensor_id)
    source = f"edge:{receipt.agent_id}"
    what = "confidence" if event.rule == "critical_anomaly" else "anomaly rate"
    return [
        Change(
            kind="raise" if event.verdict == "raise" else "clear",
            key=dedupe_key(event.rule, scope),
            rule=event.rule,
            scope=scope,
            severity="critical" if event.rule == "critical_anomaly" else "warning",
            at=receipt.received_at,
            actor=source,
            value=event.value,
            message=f"{event.rule} on {scope} at {receipt.agent_id}: {what} {event.value:.3g}",
            source=source,
            note=f"edge seq {receipt.seq}, found at ts {event.ts:.3f}",
        )
    ]


class EdgeAlertIntake:
    def __init__(
        self,
        engine: AlertEngine,
        topics: Topics,
        publish: Callable[..., object],
        *,
        clock_time: Callable[[], float],
    ) -> None:
        self._engine = engine
        self._topics = topics
        self._publish = publish
        self._time = clock_time
        self._warn = RateLimitedLog(log)
        self.refused: dict[str, int] = {}

    def take(self, agent_id: str, payload: bytes) -> bool:
        """Store, apply, then ack one batch; False if it was refused (counted)."""
        try:
            batch = decode(payload, EdgeAlertBatch, max_bytes=MAX_BYTES)
        except PayloadError as exc:
            return self._refuse(exc.reason, agent_id, str(exc))
        if batch.agent_id != agent_id:
            return self._refuse("agent_mismatch", agent_id, f"payload says {batch.agent_id!r}")
        now = self._time()
        receipts = [
            EdgeReceipt(
                agent_id, batch.epoch, batch.first_seq + i, now, orjson.dumps(e.model_dump())
            )
            for i, e in enumerate(batch.events)
        ]
        self._engine.on_edge(receipts, changes_of)
        ack = EdgeAlertAck(
            agent_id=agent_id, epoch=batch.epoch, first_seq=batch.first_seq, last_seq=batch.last_seq
        )
        self._publish(self._topics.edge_alerts_ack(agent_id), encode(ack), qos=1)
        return True

    def _refuse(self, reason: str, agent_id: str, detail: str) -> bool:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        self._warn.warning(reason, "refused edge alerts from %s: %s %s", agent_id, reason, detail)
        return False
