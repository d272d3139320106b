"""The ingest worker: validate, store, **commit, then ack**.

One thread owns the store's write connection. It drains up to ``drain_max`` queued
messages, judges each (``ingest_validate``), writes every accepted batch, the refusal
counts and the changed fleet records in ONE transaction, commits, and only then
publishes the acks. A store failure rolls the transaction back and sends no ack, so
the agents resend and nothing is lost; a refused message is counted, logged (rate
limited) and never reaches the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edgewatch.coordinator import faults
from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.ingest.inbox import Inbox
from edgewatch.coordinator.ingest.judge import Inbound, Judged, Limits, Refused, judge
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.store import CommitResult, Quarantined, Refusal, Store, WriteSet
from edgewatch.shared.codec import encode
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.schemas import Ack, AgentStatus, Heartbeat, Hello, ResultBatch
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)
RATE_WINDOW_S = 10.0


class AckSender(Protocol):
    """Where acks go (``MqttLink.publish``); None means "not sent" (link down)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> object: ...


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
        drain_max: int = 64,
    ) -> None:
        self._inbox, self._store, self._fleet = inbox, store, fleet
        self._topics, self._limits, self._acks = topics, limits, acks
        self._metrics = metrics
        self._drain_max = drain_max
        self._warn = RateLimitedLog(log)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window: deque[tuple[float, int]] = deque()
        self._transactions = self._acks_sent = self._acks_unsent = self._store_errors = 0
        self._born = time.monotonic()

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
                # Never let one bad transaction end ingest; agents resend what is unacked.
                log.exception("ingest transaction failed; %d messages not acked", len(items))

    def process(self, items: Sequence[Inbound]) -> None:
        """Judge, write in one transaction, commit, then ack (the worker's whole job)."""
        batches: list[ResultBatch] = []
        refused: list[Refused] = []
        item_time = time.time()
        for item in items:
            verdict = judge(item, self._topics, self._limits)
            self._sort(verdict, item.received_at, batches, refused)
        agents = self._fleet.take_dirty()
        work = WriteSet(
            batches=batches,
            refusals=[_refusal(r, item_time) for r in refused],
            agents=agents,
        )
        started = time.perf_counter()
        try:
            result = self._store.write(work)
        except StoreError:
            self._store_errors += 1
            self._fleet.restore_dirty(agents)
            log.exception("store write failed: %d batches left unacked", len(batches))
            time.sleep(0.5)  # a failing disk would otherwise spin this thread
            return
        self._metrics.commit_seconds.observe(time.perf_counter() - started)
        self._transactions += 1
        if faults.AFTER_COMMIT is not None:  # test-only crash between commit and ack
            faults.AFTER_COMMIT.committed(len(batches))
        self._send_acks(batches, refused, result)
        self._account(batches, refused, result)

    def _sort(
        self, verdict: Judged, now: float, batches: list[ResultBatch], refused: list[Refused]
    ) -> None:
        if isinstance(verdict, ResultBatch):
            batches.append(verdict)
            self._fleet.note_results(verdict.agent_id, now)
        elif isinstance(verdict, Refused):
            refused.append(verdict)
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

    def _send_acks(
        self, batches: list[ResultBatch], refused: list[Refused], result: CommitResult
    ) -> None:
        acks = [
            Ack(
                agent_id=b.agent_id,
                epoch=b.epoch,
                first_seq=b.first_seq,
                last_seq=b.last_seq,
                stored=o.stored,
                duplicates=o.duplicates,
            )
            for b, o in zip(batches, result.outcomes, strict=True)
        ]
        acks.extend(r.ack for r in refused if r.ack is not None)
        for ack in acks:
            sent = self._acks.publish(self._topics.ack(ack.agent_id), encode(ack), qos=1)
            if sent is not None:
                self._acks_sent += 1
            else:
                # Link down: the rows are committed, the agent resends and gets a dup ack.
                self._acks_unsent += 1

    def _account(
        self, batches: list[ResultBatch], refused: list[Refused], result: CommitResult
    ) -> None:
        stored = 0
        for b, o in zip(batches, result.outcomes, strict=True):
            self._metrics.observe_batch(b.size, o.stored, o.duplicates)
            self._metrics.observe_lags(result.stored_at, b.ts)
            stored += o.stored
        for r in refused:
            self._metrics.observe_refusal(r.reason, r.readings)
        now = time.monotonic()
        self._window.append((now, stored))
        while self._window and now - self._window[0][0] > RATE_WINDOW_S:
            self._window.popleft()

    def live(self) -> LiveStats:
        window = list(self._window)
        # Over the last RATE_WINDOW_S, or since start when younger than that.
        span = max(min(RATE_WINDOW_S, time.monotonic() - self._born), 1e-3)
        return LiveStats(
            readings_per_s=sum(n for _, n in window) / span,
            queue_depth=self._inbox.depth(),
            queue_size=self._inbox.maxsize,
            queue_full=self._inbox.full,
            transactions=self._transactions,
            acks_sent=self._acks_sent,
            acks_unsent=self._acks_unsent,
            store_errors=self._store_errors,
        )


def _refusal(r: Refused, now: float) -> Refusal:
    """The store's record of a refusal; an acked one keeps its batch in quarantine."""
    kept = None
    if r.ack is not None and r.payload is not None:
        a = r.ack
        kept = Quarantined(a.agent_id, a.epoch, a.first_seq, a.last_seq, r.payload, now)
    return Refusal(r.reason, r.agent_id, r.readings, kept)
