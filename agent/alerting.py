"""Alerts at the edge: the agent's own rules, published locally at once, delivered later.

After each scored micro-batch the agent runs ``shared.alert_rules.EdgeRules`` (the same
code the coordinator uses): ``critical_anomaly`` and a per-sensor anomaly rate with
hysteresis. Each transition it finds is, in this order:

1. stored in the outbox file's alert log, in its own sequence space (``AlertLog``);
2. published locally **at once**, whatever the uplink does: one JSON line appended to
   ``DATA_DIR/alerts.jsonl``, one WARNING log line (the journal, under systemd), and,
   with ``--site-broker``, a QoS 1 message on ``{prefix}/local/{agent_id}/alerts`` there;
3. sent to the coordinator (``{prefix}/agents/{id}/alerts``) when the uplink is up, and
   resent until its ``EdgeAlertAck`` arrives: after an outage the coordinator's record is
   complete, each event stored once.

The rules' settings come from the desired state (``ConfigOverrides.alerts``); without
one, the defaults.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from edgewatch.agent.alert_log import AlertLog, PendingAlert
from edgewatch.agent.errors import OutboxError
from edgewatch.shared.alert_rules import EdgeAlertConfig, EdgeFinding, EdgeRules
from edgewatch.shared.alert_schema import EdgeAlert, EdgeAlertAck, EdgeAlertBatch, LocalAlert
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.codec import encode
from edgewatch.shared.desired import EdgeAlertSettings
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink, MqttVersion
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.scoring import Scores
from edgewatch.shared.topics import Topics

if TYPE_CHECKING:
    from edgewatch.agent.uplink import Uplink

log = logging.getLogger(__name__)
SEND_MAX = 500
# alerts.jsonl is rotated (to alerts.jsonl.1, the one before dropped) past this size: an
# SD card must not fill with alert lines.
JSONL_MAX_BYTES = 5 * 1024 * 1024


def config_of(settings: EdgeAlertSettings | None) -> EdgeAlertConfig:
    if settings is None:
        return EdgeAlertConfig()
    return EdgeAlertConfig(**settings.model_dump())


class EdgeAlerting:
    def __init__(
        self,
        agent_id: str,
        data_dir: Path,
        outbox_path: Path,
        epoch: int,
        topics: Topics,
        *,
        site_broker: str | None = None,
        mqtt_version: MqttVersion = "auto",
        ack_timeout_s: float = 10.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.agent_id = agent_id
        self.epoch = epoch
        self.topics = topics
        self.rules = EdgeRules()
        self.log = AlertLog(outbox_path, clock=clock)
        self.jsonl = data_dir / "alerts.jsonl"
        self._clock = clock
        self._ack_timeout_s = ack_timeout_s
        self._inflight: tuple[int, int] | None = None
        self._sent_at = 0.0
        self.raised = 0
        self.local_latency_s: deque[float] = deque(maxlen=10_000)
        self._site: MqttLink | None = None
        if site_broker:
            options = LinkOptions(
                client_id=f"edgewatch-agent-{agent_id}-alerts",
                protocol=mqtt_version,
                keepalive=10,
                session_expiry_s=0,
            )
            self._site = MqttLink(BrokerAddress.parse(site_broker), options, logger=log)

    def start(self) -> None:
        if self._site is not None:
            self._site.start()

    def close(self) -> None:
        if self._site is not None:
            self._site.stop()
        self.log.close()

    def configure(self, settings: EdgeAlertSettings | None) -> None:
        config = config_of(settings)
        if config != self.rules.config:
            self.rules.configure(config)
            log.info("edge alert rules: %s", config)

    # -- finding ------------------------------------------------------------------------------

    def observe(self, batch: ReadingBatch, scores: Scores, scored_at: float) -> int:
        """Run the rules over a scored batch (``scored_at``: monotonic, end of scoring)."""
        findings = self.rules.observe(
            batch.sensor_id,
            batch.sensor_type,
            batch.ts.tolist(),
            np.asarray(scores.anomaly, dtype=bool).tolist(),
            np.asarray(scores.confidence, dtype=float).tolist(),
            self._clock.monotonic(),
        )
        return self._emit(findings, scored_at)

    def tick(self) -> int:
        return self._emit(self.rules.tick(self._clock.monotonic()), None)

    def _emit(self, findings: list[EdgeFinding], scored_at: float | None) -> int:
        if not findings:
            return 0
        now = self._clock.time()
        events = [
            EdgeAlert(
                rule=f.rule,  # type: ignore[arg-type]
                sensor_id=f.sensor_id,
                sensor_type=f.sensor_type,
                verdict=f.verdict,
                ts=now,
                value=f.value,
            )
            for f in findings
        ]
        try:
            first = self.log.append([orjson.dumps(e.model_dump()) for e in events])
        except OutboxError:
            log.exception("could not store %d alert event(s); published locally only", len(events))
            first = -1
        for i, e in enumerate(events):
            self._local(max(first + i, 0), e)
        if scored_at is not None:
            self.local_latency_s.append(self._clock.monotonic() - scored_at)
        self.raised += sum(1 for e in events if e.verdict == "raise")
        return len(events)

    def _local(self, seq: int, e: EdgeAlert) -> None:
        what = "confidence" if e.rule == "critical_anomaly" else "anomaly rate"
        message = f"{e.rule} {e.verdict} on sensor {e.sensor_id}: {what} {e.value:.3g}"
        log.warning("edge alert: %s", message)
        local = LocalAlert(
            agent_id=self.agent_id,
            seq=seq,
            rule=e.rule,
            sensor_id=e.sensor_id,
            verdict=e.verdict,
            ts=e.ts,
            value=e.value,
            message=message,
        )
        line = encode(local)
        try:
            if self.jsonl.exists() and self.jsonl.stat().st_size > JSONL_MAX_BYTES:
                self.jsonl.replace(self.jsonl.with_name(self.jsonl.name + ".1"))
            with self.jsonl.open("ab") as fh:
                fh.write(line + b"\n")
        except OSError as exc:
            log.warning("cannot append to %s: %s", self.jsonl, exc.strerror or exc)
        if self._site is not None:
            self._site.publish(self.topics.local_alerts(self.agent_id), line, qos=1)

    # -- delivery -------------------------------------------------------------------------------

    def unacked(self) -> bool:
        """Alert events not acked by the coordinator yet."""
        return bool(self.log.pending(1))

    def link_up(self) -> None:
        self._inflight = None

    def pump(self, uplink: Uplink) -> None:
        """Send what is unacked: the first time, or again after ``ack_timeout_s``."""
        now = self._clock.monotonic()
        if self._inflight is not None and now - self._sent_at < self._ack_timeout_s:
            return
        pending = _contiguous(self.log.pending(SEND_MAX))
        if not pending:
            self._inflight = None
            return
        batch = EdgeAlertBatch(
            agent_id=self.agent_id,
            epoch=self.epoch,
            first_seq=pending[0].seq,
            events=[EdgeAlert.model_validate_json(p.payload) for p in pending],
        )
        if uplink.send_alerts(encode(batch)):
            self._inflight = (batch.first_seq, batch.last_seq)
            self._sent_at = now

    def acked(self, ack: EdgeAlertAck) -> None:
        if ack.epoch != self.epoch:
            return
        self.log.acknowledge(ack.first_seq, ack.last_seq)
        if self._inflight is not None and ack.last_seq >= self._inflight[1]:
            self._inflight = None


def _contiguous(pending: list[PendingAlert]) -> list[PendingAlert]:
    out = pending[:1]
    for p in pending[1:]:
        if p.seq != out[-1].seq + 1:
            break
        out.append(p)
    return out
