"""Which acks the agent honours: only those for chunks it sent and has not had acked.

An ack deletes readings from the outbox, the only durable copy on the edge. Anyone who
can publish on the agent's ack topic (an open broker, a confused coordinator, a stale
retained message) could otherwise delete readings that never left the box. So an ack is
honoured only when it names, exactly, a chunk this process has sent and not yet seen
acked, in the outbox's current epoch; everything else is refused and counted by reason
(reported in the heartbeat's ``bad_acks``):

- ``wrong_epoch``: for another outbox (an old epoch, or a guess);
- ``not_sent``: no chunk starting there was sent (a forged or misdirected ack);
- ``range_mismatch``: a chunk starts there, but the ack covers another range.

A chunk sent before this process started is not "sent" here: after a restart its ack
is refused, the chunk is sent again, and the coordinator acks the copy as a duplicate.
That costs one resend per in-flight chunk and nothing else. Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgewatch.shared.schemas import Ack


@dataclass
class AckGate:
    epoch: int
    # first_seq -> n of every chunk sent (at least once) and not yet acked.
    _sent: dict[int, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def sent(self, first_seq: int, n: int) -> None:
        self._sent[first_seq] = n

    def outstanding(self) -> int:
        return len(self._sent)

    def check(self, ack: Ack) -> str | None:
        """Why ``ack`` must be refused, or None to honour it (and forget the chunk)."""
        reason: str
        if ack.epoch != self.epoch:
            reason = "wrong_epoch"
        elif ack.first_seq not in self._sent:
            reason = "not_sent"
        elif self._sent[ack.first_seq] != ack.last_seq - ack.first_seq + 1:
            reason = "range_mismatch"
        else:
            del self._sent[ack.first_seq]
            return None
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return reason

    def forget_below(self, seq: int) -> None:
        """Drop chunks that left the outbox without an ack (the bound dropped them)."""
        for first in [s for s in self._sent if s < seq]:
            del self._sent[first]
