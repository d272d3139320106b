"""agent.acks: an ack deletes readings only when it names, exactly, a chunk we sent."""

from __future__ import annotations

from edgewatch.agent.acks import AckGate
from edgewatch.shared.schemas import Ack


def _ack(first: int, last: int, epoch: int = 7) -> Ack:
    return Ack(agent_id="a", epoch=epoch, first_seq=first, last_seq=last, stored=0, duplicates=0)


def test_only_exact_acks_of_sent_chunks_are_honoured_and_each_once() -> None:
    gate = AckGate(epoch=7)
    gate.sent(0, 10)
    gate.sent(10, 5)
    assert gate.check(_ack(0, 9)) is None
    assert gate.check(_ack(0, 9)) == "not_sent"  # a second copy: already acked
    assert gate.check(_ack(10, 99)) == "range_mismatch"  # covers more than the chunk
    assert gate.check(_ack(20, 29)) == "not_sent"  # never sent: a forgery or a guess
    assert gate.check(_ack(10, 14, epoch=8)) == "wrong_epoch"
    assert gate.check(_ack(10, 14)) is None
    assert gate.refused == {"not_sent": 2, "range_mismatch": 1, "wrong_epoch": 1}
    assert gate.outstanding() == 0


def test_a_resent_chunk_is_still_one_chunk() -> None:
    gate = AckGate(epoch=7)
    gate.sent(0, 3)
    gate.sent(0, 3)  # sent again after a timeout
    assert gate.outstanding() == 1
    assert gate.check(_ack(0, 2)) is None


def test_chunks_the_bound_dropped_are_forgotten() -> None:
    gate = AckGate(epoch=7)
    for first in range(0, 50, 10):
        gate.sent(first, 10)
    gate.forget_below(30)
    assert gate.outstanding() == 2
    assert gate.check(_ack(0, 9)) == "not_sent" and gate.check(_ack(30, 39)) is None
