"""The ingest worker: validate, store, **commit, then ack**; one message never stalls the rest.

One thread owns ingest's writes. It drains up to ``drain_max`` queued messages, judges
each (``ingest.judge``), writes every accepted batch, the refusal counts and the changed
fleet records in ONE transaction, commits, publishes the acks, and tells the committed
feed how far it got (``ingest.feed``).

Failures, by what the store says (``store.contract``):

- ``StoreUnavailable`` (disk, lock, I/O): nothing is acked, agents resend later; the
  worker backs off so a failing disk does not spin it.
- ``WriteRefused`` (something in the transaction cannot be written): the messages are
  written **one by one**. Each that fails alone is a poison message: refused with the
  reason ``unstorable`` and counted; a poison batch is first kept whole in quarantine and
  then acked as rejected, so its agent stops resending it and nothing is lost. The other
  messages of the drain commit and are acked as usual: one agent cannot stall the fleet.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgewatch.coordinator import faults
from edgewatch.coordinator.errors import StoreUnavailable, WriteRefused
from edgewatch.coordinator.fleet.registry import AgentRecord, FleetRegistry
from edgewatch.coordinator.ingest.acks import AckSender, acks_for
from edgewatch.coordinator.ingest.feed import CommittedFeed
from edgewatch.coordinator.ingest.inbox import Inbox
from edgewatch.coordinator.ingest.judge import Inbound, Judged, Limits, Refused, judge
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.store import CommitResult, Quarantined, Refusal, Store, WriteSet
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.schemas import Ack, AgentStatus, Heartbeat, Hello, ResultBatch
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)
RATE_WINDOW_S = 10.0
UNSTORABLE = "unstorable"


@dataclass(frozen=True)
class LiveStats:
    """In-memory figures the store does not keep: rates and the queue."""

    readings_per_s: float
    queue_depth: int
    queue_size: int
    queue_full: int
    transactions: int
    acks_sent: int
    acks_unsent: int
    store_errors: int
    poisoned: int
    feed_position: int


@dataclass(frozen=True)
class _Item:
    """One message through the worker: what arrived and what ``judge`` made of it."""

    inbound: Inbound
    verdict: Judged

    @property
    def agent_id(self) -> str | None:
        v = self.verdict
        return v.agent_id


class IngestWorker:
    """The single writer. ``start()`` spawns its thread; ``stop()`` drains and joins."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        store: Store,
        fleet: FleetRegistry,
        topics: Topics,
        limits: Limits,
        acks: AckSender,
        metrics: CoordinatorMetrics,
        feed: CommittedFeed | None = None,
        drain_max: int = 64,
        backoff_s: float = 0.5,
        clock: Clock = SYSTEM,
        handover: Callable[[], frozenset[str]] | None = None,
        gate: Callable[[Judged], Judged] | None = None,
    ) -> None:
        self._inbox, self._store, self._fleet = inbox, store, fleet
        self._topics, self._limits, self._acks = topics, limits, acks
        self._metrics = metrics
        self._feed = feed or CommittedFeed()
        self._drain_max = drain_max
        self._backoff_s = backoff_s
        self._clock = clock
        self._handover = handover
        # Refuses what the site does not admit (coordinator.security.enrollment_gate).
        self._gate = gate
        self._warn = RateLimitedLog(log, clock=clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window: deque[tuple[float, int]] = deque()
        self._transactions = self._acks_sent = self._acks_unsent = self._store_errors = 0
        self._poisoned = 0
        self._born = clock.monotonic()

    @property
    def feed(self) -> CommittedFeed:
        return self._feed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued (commit and ack it), then end the thread."""
        self._inbox.close()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("ingest worker did not finish within %.1fs", timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            items = self._inbox.drain(self._drain_max, timeout=0.1)
            if not items:
                if self._stop.is_set():
                    return
                continue
            try:
                self.process(items)
            except Exception:
                # A bug here must not end ingest (agents resend what is unacked), and
                # must not go unseen: logged with its traceback, and counted.
                self._metrics.ingest_errors.inc()
                log.exception("ingest failed on %d messages; none acked", len(items))

    # -- one drain ---------------------------------------------------------------------------

    def process(self, items: Sequence[Inbound]) -> None:
        """Judge, write in one transaction, commit, then ack (the worker's whole job)."""
        judged = [_Item(item, self._judge(item)) for item in items]
        for item in judged:
            self._apply_to_fleet(item)
        agents = self._fleet.take_dirty()
        try:
            self._commit(judged, agents)
        except StoreUnavailable:
            self._store_unavailable(agents, len(judged))
        except WriteRefused as exc:
            if len(judged) == 1 and not agents:
                self._poison(judged[0], None, str(exc))
            else:
                log.warning(
                    "a transaction of %d messages was refused (%s); isolating", len(judged), exc
                )
                self._one_by_one(judged, agents)

    def _judge(self, item: Inbound) -> Judged:
        verdict = judge(item, self._topics, self._limits)
        return verdict if self._gate is None else self._gate(verdict)

    def _commit(self, judged: Sequence[_Item], agents: Sequence[AgentRecord]) -> None:
        batches = [i.verdict for i in judged if isinstance(i.verdict, ResultBatch)]
        refused = [(i.inbound, i.verdict) for i in judged if isinstance(i.verdict, Refused)]
        now = self._clock.time()
        work = WriteSet(
            batches=batches,
            refusals=[_refusal(r, inbound, now) for inbound, r in refused],
            agents=agents,
            handover_sensors=self._handover() if self._handover and batches else frozenset(),
        )
        started = self._clock.monotonic()
        result = self._store.write(work)
        self._metrics.commit_seconds.observe(self._clock.monotonic() - started)
        self._transactions += 1
        if faults.AFTER_COMMIT is not None:  # test-only crash between commit and ack
            faults.AFTER_COMMIT.committed(len(batches))
        self._send(acks_for(batches, [r for _, r in refused], result))
        self._feed.published(result.feed_position, batches, result)
        self._account(batches, [r for _, r in refused], result)

    def _store_unavailable(self, agents: Sequence[AgentRecord], messages: int) -> None:
        self._store_errors += 1
        self._fleet.restore_dirty(agents)
        log.exception("store unavailable: %d messages not acked (agents resend)", messages)
        # A failing disk would otherwise spin this thread; stop() still ends the wait.
        self._stop.wait(self._backoff_s)

    def _one_by_one(self, judged: Sequence[_Item], agents: Sequence[AgentRecord]) -> None:
        """Write each message with only its own agent's record; isolate what fails alone."""
        pending = {r.id: r for r in agents}
        for n, item in enumerate(judged):
            record = pending.pop(item.agent_id, None) if item.agent_id else None
            try:
                self._commit([item], [record] if record else [])
            except StoreUnavailable:
                rest = [r for r in (record, *pending.values()) if r is not None]
                self._store_unavailable(rest, len(judged) - n)
                return
            except WriteRefused as exc:
                self._poison(item, record, str(exc))
        if pending:  # agents touched by results only (note_results): their own write
            try:
                self._commit([], list(pending.values()))
            except (StoreUnavailable, WriteRefused):
                self._fleet.restore_dirty(pending.values())

    def _poison(self, item: _Item, record: AgentRecord | None, why: str) -> None:
        """``item`` cannot be stored even alone: refuse it for good, keep what it carried."""
        self._poisoned += 1
        agent = item.agent_id
        if record is not None and agent is not None:
            # Forget what this message did to the agent's record: the stored one stands.
            self._fleet.replace(agent, self._safe_stored_record(agent))
        verdict = item.verdict
        readings = verdict.size if isinstance(verdict, ResultBatch) else 0
        refusal = Refused(UNSTORABLE, agent, why, readings=readings, payload=item.inbound.payload)
        if isinstance(verdict, ResultBatch):
            refusal = _rejecting(refusal, verdict)
        self._warn.warning(UNSTORABLE, "message from %s cannot be stored: %s", agent or "?", why)
        try:
            self._commit([_Item(item.inbound, refusal)], [])
        except (StoreUnavailable, WriteRefused):
            # Not even the refusal could be written: count it here, ack nothing (the
            # batch is resent later and judged again).
            self._metrics.observe_refusal(UNSTORABLE, readings)
            log.exception("could not record the refusal of a poison message from %s", agent)

    def _safe_stored_record(self, agent_id: str) -> AgentRecord | None:
        try:
            return self._store.agent(agent_id)
        except StoreUnavailable:
            return None

    # -- bookkeeping -------------------------------------------------------------------------

    def _apply_to_fleet(self, item: _Item) -> None:
        verdict, now = item.verdict, item.inbound.received_at
        if isinstance(verdict, ResultBatch):
            self._fleet.note_results(verdict.agent_id, now)
        elif isinstance(verdict, Refused):
            self._warn.warning(
                verdict.reason,
                "refused message from %s: %s %s",
                verdict.agent_id or "?",
                verdict.reason,
                verdict.detail,
            )
        elif isinstance(verdict, Hello):
            self._fleet.apply_hello(verdict, now)
        elif isinstance(verdict, Heartbeat):
            self._fleet.apply_heartbeat(verdict, now)
        elif isinstance(verdict, AgentStatus):
            self._fleet.apply_status(verdict, now)

    def _send(self, acks: Sequence[tuple[str, bytes]]) -> None:
        for topic_agent, payload in acks:
            sent = self._acks.publish(self._topics.ack(topic_agent), payload, qos=1)
            if sent is not None:
                self._acks_sent += 1
            else:
                # Link down: the rows are committed, the agent resends and gets a dup ack.
                self._acks_unsent += 1

    def _account(
        self, batches: Sequence[ResultBatch], refused: Sequence[Refused], result: CommitResult
    ) -> None:
        stored = 0
        for b, o in zip(batches, result.outcomes, strict=True):
            self._metrics.observe_batch(b.size, o.stored, o.duplicates, len(o.conflicts))
            self._metrics.observe_lags(result.stored_at, b.ts)
            stored += o.stored
        for r, counted in zip(refused, result.refusals_counted, strict=True):
            if counted:  # a retained message refused before is not counted again
                self._metrics.observe_refusal(r.reason, r.readings)
        now = self._clock.monotonic()
        self._window.append((now, stored))
        while self._window and now - self._window[0][0] > RATE_WINDOW_S:
            self._window.popleft()

    def live(self) -> LiveStats:
        window = list(self._window)
        # Over the last RATE_WINDOW_S, or since start when younger than that.
        span = max(min(RATE_WINDOW_S, self._clock.monotonic() - self._born), 1e-3)
        return LiveStats(
            readings_per_s=sum(n for _, n in window) / span,
            queue_depth=self._inbox.depth(),
            queue_size=self._inbox.maxsize,
            queue_full=self._inbox.full,
            transactions=self._transactions,
            acks_sent=self._acks_sent,
            acks_unsent=self._acks_unsent,
            store_errors=self._store_errors,
            poisoned=self._poisoned,
            feed_position=self._feed.position,
        )


def _rejecting(refusal: Refused, batch: ResultBatch) -> Refused:
    """``refusal`` carrying the ack that tells the batch's agent to stop resending it."""
    ack = Ack(
        schema_version=batch.schema_version,
        agent_id=batch.agent_id,
        epoch=batch.epoch,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        stored=0,
        duplicates=0,
        rejected=refusal.reason,
    )
    return Refused(
        refusal.reason,
        refusal.agent_id,
        refusal.detail,
        readings=refusal.readings,
        ack=ack,
        payload=refusal.payload,
    )


def _refusal(r: Refused, inbound: Inbound, now: float) -> Refusal:
    """The store's record of a refusal; an acked one keeps its batch in quarantine."""
    kept = None
    if r.ack is not None and r.payload is not None:
        a = r.ack
        kept = Quarantined(a.agent_id, a.epoch, a.first_seq, a.last_seq, r.payload, now)
    retained = None
    if inbound.retained:
        digest = hashlib.sha256(inbound.topic.encode() + b"\0" + inbound.payload).hexdigest()
        retained = digest
    return Refusal(r.reason, r.agent_id, r.readings, kept, retained)
