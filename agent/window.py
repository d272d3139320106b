"""Which outbox chunk goes on the wire next: the in-flight window and the send order.

Order of preference each time a slot is free:

1. **retries**: chunks whose ack did not come in time; each retry of a chunk waits twice
   as long as the one before (capped), so a coordinator that is down while the broker
   is up sees a trickle of probes, not the whole window every ``ack_timeout``. Retries
   share the backlog's slots, never the live reserve. The backoff ends for a chunk as
   soon as one sent after it is acked (the coordinator is back and answering): its
   copy was lost, typically with the broker's queue, and it goes again after the plain
   ``ack_timeout`` instead of holding a backlog slot for up to ``MAX_RETRY_WAIT_S``;
2. **live**: chunks appended since the link came up, oldest first, so the coordinator
   sees the present with a short lag even while a backlog drains;
3. **backlog**: what piled up while offline, oldest first, using at most
   ``inflight_max - live_reserve`` slots, so backlog never starves live data.

The window bounds what is on the wire (``inflight_max`` chunks); acks free slots. The
class is pure bookkeeping (no I/O), so the ordering rules are unit-tested directly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

Lane = Literal["retry", "live", "backlog"]


MAX_RETRY_WAIT_S = 300.0


@dataclass(slots=True)
class InFlight:
    first_seq: int
    n: int
    sent_at: float
    lane: Lane
    attempt: int = 0


class SendWindow:
    def __init__(self, inflight_max: int, ack_timeout_s: float) -> None:
        self.inflight_max = inflight_max
        self.ack_timeout_s = ack_timeout_s
        self.live_reserve = max(1, inflight_max // 4)
        self.inflight: dict[int, InFlight] = {}
        self.retry: deque[tuple[int, int]] = deque()  # (first_seq, attempt)
        self.live_from = 0
        self.live_cursor = 0
        self.backlog_cursor = 0
        self.resends = 0
        # When the newest chunk that got acked was sent: anything unacked sent before it
        # has been overtaken by a coordinator that is answering.
        self.acked_sent_at = float("-inf")

    def reset(self, oldest_seq: int, next_seq: int) -> None:
        """On (re)connect: everything unacked is backlog, everything new is live."""
        self.inflight.clear()
        self.retry.clear()
        self.live_from = next_seq
        self.live_cursor = next_seq
        self.backlog_cursor = oldest_seq

    def free_slots(self) -> int:
        return self.inflight_max - len(self.inflight)

    def backlog_slots(self) -> int:
        in_backlog = sum(1 for f in self.inflight.values() if f.lane != "live")
        return max(0, self.inflight_max - self.live_reserve - in_backlog)

    def sent(self, first_seq: int, n: int, now: float, lane: Lane, attempt: int = 0) -> None:
        self.inflight[first_seq] = InFlight(first_seq, n, now, lane, attempt)
        if lane == "live":
            self.live_cursor = max(self.live_cursor, first_seq + n)
        elif lane == "backlog":
            self.backlog_cursor = max(self.backlog_cursor, first_seq + n)
        else:
            self.resends += 1

    def acked(self, first_seq: int, last_seq: int) -> None:
        for seq in [
            s for s, f in self.inflight.items() if s >= first_seq and s + f.n - 1 <= last_seq
        ]:
            self.acked_sent_at = max(self.acked_sent_at, self.inflight.pop(seq).sent_at)

    def wait_for(self, attempt: int) -> float:
        """How long attempt ``attempt`` (0 = first send) waits for its ack."""
        return float(
            min(self.ack_timeout_s * 2**attempt, max(MAX_RETRY_WAIT_S, self.ack_timeout_s))
        )

    def expire(self, now: float) -> int:
        """Move chunks whose ack is overdue to the retry lane; returns how many."""
        late = [f for f in self.inflight.values() if self._late(f, now)]
        for f in sorted(late, key=lambda f: f.first_seq):
            del self.inflight[f.first_seq]
            # Overtaken: the coordinator is up, so no backoff for this chunk's next copy.
            attempt = 0 if self._overtaken(f, now) else f.attempt + 1
            self.retry.append((f.first_seq, attempt))
        return len(late)

    def _overtaken(self, f: InFlight, now: float) -> bool:
        return f.sent_at < self.acked_sent_at and now - f.sent_at >= self.ack_timeout_s

    def _late(self, f: InFlight, now: float) -> bool:
        return now - f.sent_at >= self.wait_for(f.attempt) or self._overtaken(f, now)

    def oldest_inflight_age(self, now: float) -> float:
        return max((now - f.sent_at for f in self.inflight.values()), default=0.0)
