"""The agent's one worker: source -> scorer -> outbox -> uplink, in a single thread.

One thread owns the source, the scorer and the SQLite outbox; paho's thread only hands
acks and link events over a queue (``agent.uplink``). Each turn of the loop:

1. take link events and acks (blocking briefly when there is nothing else to do, so an
   ack wakes the worker at once);
2. poll the source; readings wait at most ``linger_ms`` (or until ``batch_max``) and are
   then scored as one micro-batch and appended to the outbox as one chunk;
3. fill the in-flight window from the outbox (retries, then live, then backlog);
4. heartbeat when due.

Scoring never waits for the network: with the uplink down the outbox just grows (up to
its bound), and everything is sent when the link returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgewatch.agent.acks import AckGate
from edgewatch.agent.alerting import EdgeAlerting
from edgewatch.agent.announce import build_heartbeat, build_hello
from edgewatch.agent.control import ControlPlane
from edgewatch.agent.encoder import encode_batch
from edgewatch.agent.errors import OutboxFull
from edgewatch.agent.health import HealthProbe
from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.manager import ModelManager
from edgewatch.agent.outbox import AckedChunk, Chunk, Outbox
from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources.base import AssignableSource, Source
from edgewatch.agent.uplink import LinkDown, LinkUp, Uplink
from edgewatch.agent.window import Lane, SendWindow
from edgewatch.shared.alert_schema import EdgeAlertAck
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.mqtt import BrokerAddress
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.schemas import Ack, Hello
from edgewatch.shared.scoring import Scorer, Scores
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class AgentCounters:
    polled: int = 0
    scored: int = 0
    appended: int = 0
    acked: int = 0
    sent_chunks: int = 0
    unjudged: int = 0  # readings no rule or model gave a score
    score_seconds: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)


class Agent:
    """Runs until ``stop()`` (or, with ``exit_when_drained``, until all is acked)."""

    def __init__(
        self,
        settings: AgentSettings,
        scorer: Scorer,
        open_source: Callable[[int], Source],
        *,
        clock: Clock = SYSTEM,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.scorer = scorer
        self.outbox = Outbox(
            settings.data_dir / "outbox.db",
            settings.id,
            max_rows=settings.outbox_max_rows,
            max_bytes=settings.outbox_max_bytes,
            clock=clock,
        )
        # The outbox knows where the source stopped: resume there, don't repeat.
        self.source = open_source(self.outbox.position)
        self.uplink = Uplink(
            settings.id,
            BrokerAddress.parse(settings.broker),
            Topics(settings.topic_prefix),
            protocol=settings.mqtt_version,
            keepalive=settings.keepalive,
            inflight_max=settings.inflight_max,
            # Copies older than a few resend periods are stale: the outbox sends again.
            result_expiry_s=int(max(60.0, 3 * settings.ack_timeout_s)),
            tls=settings.tls_options(),
        )
        self.models = ModelManager(
            scorer if isinstance(scorer, TieredScorer) else None,
            data_dir=settings.data_dir,
            keys=TrustedKeys.load(settings.model_pubkey, settings.data_dir)
            if settings.model_pubkey is not None
            else None,
            topics=Topics(settings.topic_prefix),
            link=self.uplink,
            clock=clock,
        )
        self.models.start()
        # The last desired state accepted is on disk: run it even before any uplink.
        self.control = ControlPlane(settings.id, self.source, models=self.models)
        self.control.resume(self.outbox.desired())
        self._desired_pending: bytes | None = None
        # The agent's own alert rules (docs/alerts.md, "Alerts at the edge").
        self.alerting = EdgeAlerting(
            settings.id,
            settings.data_dir,
            self.outbox.path,
            self.outbox.epoch,
            Topics(settings.topic_prefix),
            site_broker=settings.site_broker,
            mqtt_version=settings.mqtt_version,
            ack_timeout_s=settings.ack_timeout_s,
            clock=clock,
        )
        self.alerting.configure(self.control.alert_settings)
        self.window = SendWindow(settings.inflight_max, settings.ack_timeout_s)
        self.acks = AckGate(self.outbox.epoch)
        self.counters = AgentCounters()
        self.health = HealthProbe(clock=clock)
        self.disk_full = False
        self.started = clock.time()
        self._stop = threading.Event()
        self._pending: list[ReadingBatch] = []
        self._pending_n = 0
        self._pending_since = 0.0
        self._exhausted = False
        self._next_heartbeat = 0.0
        self._link_ready = False  # the worker has handled the link's latest LinkUp
        self.snapshot = self.outbox.stats()
        self._snapshot_at = 0.0
        self._late = 0
        self._late_logged = 0.0
        self._bad_ack = RateLimitedLog(log, clock=clock)
        self.unjudged_types: set[str] = set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def drained(self) -> bool:
        return (
            self._exhausted
            and not self._pending
            and self.outbox.rows == 0
            and not self.alerting.unacked()
        )

    def run(self) -> int:
        self.uplink.start()
        self.alerting.start()
        try:
            while not self._stop.is_set():
                self._turn()
                if self.settings.exit_when_drained and self.drained:
                    log.info("source exhausted and every reading acked; exiting")
                    break
        finally:
            self._commit_pending()
            if isinstance(self.source, AssignableSource):
                self.source.close()
            self.alerting.close()
            self.uplink.stop()
            self.outbox.close()
        return 0

    # -- one turn ---------------------------------------------------------------------------

    def _turn(self) -> None:
        self._take_events(self._idle_wait())
        if not self._exhausted and self._pending_n < self.settings.batch_max:
            self._poll()
        now = self.clock.monotonic()
        full = self._pending_n >= self.settings.batch_max
        lingered = now - self._pending_since >= self.settings.linger_ms / 1000
        if self._pending and (full or lingered or self._exhausted):
            self._commit_pending()
        self.alerting.tick()
        self._pump()
        if now - self._snapshot_at >= 0.5:
            # Other threads (metrics, tests) read this snapshot, never the outbox itself.
            self.snapshot = self.outbox.stats()
            self._snapshot_at = now
        if now >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = now + self.settings.heartbeat_s

    def _idle_wait(self) -> float:
        """How long the worker may block on the event queue without falling behind."""
        now = self.clock.monotonic()
        waits = [self._next_heartbeat - now, 0.25]
        if not self._exhausted and self._pending_n < self.settings.batch_max:
            waits.append(self.source.wait_hint())
        if self._pending:
            waits.append(self._pending_since + self.settings.linger_ms / 1000 - now)
        if self.window.inflight:
            waits.append(self.settings.ack_timeout_s / 4)
        return max(0.0, min(waits))

    def _poll(self) -> None:
        got = self.source.poll(self.settings.batch_max - self._pending_n)
        if got is None:
            self._exhausted = True
            return
        if len(got):
            if not self._pending:
                self._pending_since = self.clock.monotonic()
            self._pending.append(got)
            self._pending_n += len(got)
            self.counters.polled += len(got)

    # -- events -----------------------------------------------------------------------------

    def _take_events(self, timeout: float) -> None:
        for change in self.uplink.take_link_events():
            self._link_event(change)
        acks: list[Ack] = []
        try:
            event = (
                self.uplink.events.get(timeout=timeout)
                if timeout > 0
                else (self.uplink.events.get_nowait())
            )
            while True:
                if isinstance(event, Ack):
                    acks.append(event)
                elif isinstance(event, EdgeAlertAck):
                    self.alerting.acked(event)
                event = self.uplink.events.get_nowait()
        except queue.Empty:
            pass
        # Link events that came while we waited (the queue only held a wake-up for them).
        for change in self.uplink.take_link_events():
            self._link_event(change)
        self._flush_acks(acks)
        self._desired(self.uplink.take_desired() or self._desired_pending)
        self._model_events()

    def _model_events(self) -> None:
        """Key chain and model packages that arrived; report at once when a model swapped."""
        packages, keys = self.uplink.take_models()
        before = self.scorer.models()
        if keys is not None:
            self.models.receive_keys(keys)
        for topic, payload in packages.items():
            self.models.receive(topic, payload)
        self.models.tick()
        if packages and self.scorer.models() != before:
            self._next_heartbeat = 0.0  # the coordinator waits to see the new version

    def _desired(self, payload: bytes | None) -> None:
        """Accept, persist, then apply a desired state; report at once."""
        self._desired_pending = None
        if payload is None:
            return
        desired = self.control.receive(payload)
        if desired is not None:
            try:
                self.outbox.save_desired(desired.generation, payload)
            except OutboxFull:
                # Persist before applying, always: try again next turn.
                log.warning("outbox full: desired state %d not applied yet", desired.generation)
                self._desired_pending = payload
                return
            self.control.apply(desired)
            self.alerting.configure(desired.config.alerts)
        self._next_heartbeat = 0.0  # report what we run now, not in heartbeat_s

    def _flush_acks(self, acks: list[Ack]) -> None:
        honoured: list[Ack] = []
        for ack in acks:
            refused = self.acks.check(ack)
            if refused is None:
                honoured.append(ack)
            else:
                self._bad_ack.warning(
                    refused,
                    "ignored an ack for seqs %d-%d of epoch %d (%s): it names no chunk this "
                    "agent sent and has not had acked",
                    ack.first_seq,
                    ack.last_seq,
                    ack.epoch,
                    refused,
                )
        if not honoured:
            return
        chunks = [
            AckedChunk(
                first_seq=a.first_seq,
                n=a.last_seq - a.first_seq + 1,
                rejected=a.rejected,
                conflicts=tuple((r.first, r.last) for r in a.conflicts),
            )
            for a in honoured
        ]
        try:
            self.counters.acked += self.outbox.acknowledge(chunks)
        except OutboxFull:
            # Deleting needs a little space too; the chunks are re-acked after a resend.
            for a in honoured:
                self.acks.sent(a.first_seq, a.last_seq - a.first_seq + 1)
            log.warning("outbox full while applying acks; will retry")
            return
        for a in honoured:
            self.window.acked(a.first_seq, a.last_seq)
            if a.rejected:
                log.warning(
                    "coordinator rejected seqs %d-%d: %s", a.first_seq, a.last_seq, a.rejected
                )

    def _link_event(self, event: LinkUp | LinkDown) -> None:
        # Nothing is sent between the CONNACK and here: the reset below would forget what
        # was, and send it a second time (a duplicate per chunk; a burst of them over TLS,
        # whose longer connect lets more chunks queue up meanwhile).
        self._link_ready = isinstance(event, LinkUp)
        if isinstance(event, LinkUp):
            self.alerting.link_up()
            self.window.reset(self.outbox.oldest_seq(), self.outbox.next_seq)
            stats = self.outbox.stats()
            log.info("uplink up; %d readings (%d chunks) waiting", stats.rows, stats.chunks)
            self.uplink.publish_status("online")
            self.uplink.publish_hello(self._hello())
            self._next_heartbeat = 0.0
        else:
            self.window.reset(self.outbox.oldest_seq(), self.outbox.next_seq)

    # -- scoring and the outbox ---------------------------------------------------------------

    def _commit_pending(self) -> None:
        if not self._pending:
            return
        batch = self._pending[0] if len(self._pending) == 1 else ReadingBatch.concat(self._pending)
        self._pending, self._pending_n = [], 0
        ok = batch.finite_mask()
        if not ok.all():
            self._drop("non_finite", int((~ok).sum()))
            batch = batch.take(np.flatnonzero(ok))
        if not len(batch):
            return
        t0 = time.perf_counter()
        scores = self.scorer.score(batch)
        self.counters.score_seconds += time.perf_counter() - t0
        self.counters.scored += len(batch)
        self.alerting.observe(batch, scores, self.clock.monotonic())
        self._note_unjudged(batch, scores)
        enc = encode_batch(
            batch,
            scores,
            agent_id=self.settings.id,
            epoch=self.outbox.epoch,
            first_seq=self.outbox.next_seq,
        )
        for reason, n in enc.dropped.items():
            self._drop(reason, n)
        if not enc.n:
            return
        try:
            self.outbox.append(enc.payload, enc.n, self.source.position)
        except OutboxFull as exc:
            if not self.disk_full:
                log.error("outbox disk full, readings are being dropped: %s", exc)
            self.disk_full = True
            self._drop("disk_full", enc.n)
            return
        if self.disk_full:
            log.warning("outbox writable again; disk-full condition cleared")
        self.disk_full = False
        self.counters.appended += enc.n
        if self.acks.outstanding() > 4 * self.settings.inflight_max:
            # Chunks the bound dropped were never acked: do not remember them forever.
            self.acks.forget_below(self.outbox.oldest_seq())

    def _note_unjudged(self, batch: ReadingBatch, scores: Scores) -> None:
        """Say so when readings get a verdict no rule or model actually made.

        A reading none of whose metrics any rule covers (and whose type has no model)
        has no score: it is marked normal by default. A CSV with other column names than
        the rules expect would otherwise be "all normal" without a word.
        """
        unjudged = np.isnan(scores.score)
        if not unjudged.any():
            return
        self.counters.unjudged += int(unjudged.sum())
        for sensor_type in {t for t, u in zip(batch.sensor_type, unjudged, strict=True) if u}:
            if sensor_type in self.unjudged_types:
                continue
            self.unjudged_types.add(sensor_type)
            metrics = sorted(m for m, v in batch.metrics.items() if not np.isnan(v).all())
            log.warning(
                "no rule covers any metric of sensor type %r (%s) and it has no model: its "
                "readings are sent unjudged (normal); give --rules FILE with these metrics, "
                "or a model (edgewatch train)",
                sensor_type,
                ", ".join(metrics),
            )

    def _drop(self, reason: str, n: int) -> None:
        self.counters.dropped[reason] = self.counters.dropped.get(reason, 0) + n
        self.outbox.count_drop(reason, n)

    # -- sending ------------------------------------------------------------------------------

    def _pump(self) -> None:
        if not (self.uplink.connected and self._link_ready):
            return
        self.alerting.pump(self.uplink)
        now = self.clock.monotonic()
        self._late += self.window.expire(now)
        if self._late and now - self._late_logged >= 5.0:
            # Summarised: while the coordinator is away this fires on many turns.
            log.info("no ack in time for %d chunk(s) since the last note; resending", self._late)
            self._late, self._late_logged = 0, now
        while self.window.free_slots() > 0:
            picked = self._next_chunk()
            if picked is None:
                return
            chunk, lane, attempt = picked
            if not self.uplink.send_chunk(chunk.payload):
                if lane == "retry":
                    self.window.retry.appendleft((chunk.first_seq, attempt))
                return
            self.window.sent(chunk.first_seq, chunk.n, now, lane, attempt)
            self.acks.sent(chunk.first_seq, chunk.n)
            self.counters.sent_chunks += 1

    def _next_chunk(self) -> tuple[Chunk, Lane, int] | None:
        w = self.window
        # Retries and backlog share the slots outside the live reserve.
        while w.retry and w.backlog_slots() > 0:
            seq, attempt = w.retry.popleft()
            chunk = self.outbox.chunk(seq)
            if chunk is not None:  # gone means acked late or dropped by the bound
                return chunk, "retry", attempt
        # Only ask the outbox when something was appended past the live cursor: this
        # runs on every turn of the worker, mostly to find nothing new.
        live = (
            self.outbox.chunks(w.live_cursor, None, 1)
            if w.live_cursor < self.outbox.next_seq
            else []
        )
        if live:
            return live[0], "live", 0
        if w.backlog_slots() > 0 and w.backlog_cursor < w.live_from:
            backlog = self.outbox.chunks(w.backlog_cursor, w.live_from, 1)
            if backlog:
                return backlog[0], "backlog", 0
        return None

    # -- announcements ------------------------------------------------------------------------

    def _hello(self) -> Hello:
        return build_hello(self)

    def _heartbeat(self) -> None:
        if self.uplink.connected:
            self.uplink.publish_heartbeat(build_heartbeat(self))
