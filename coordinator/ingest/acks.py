"""The acks a committed transaction owes its agents, each in the version its agent speaks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from edgewatch.coordinator.ingest.judge import Refused
from edgewatch.coordinator.store import CommitResult
from edgewatch.shared import wire
from edgewatch.shared.schemas import Ack, ResultBatch, SeqRange


class AckSender(Protocol):
    """Where acks go (``MqttLink.publish``); None means "not sent" (link down)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> object: ...


def acks_for(
    batches: Sequence[ResultBatch], refused: Sequence[Refused], result: CommitResult
) -> list[tuple[str, bytes]]:
    """``(agent_id, encoded ack)`` for every committed batch and every acked refusal."""
    out: list[tuple[str, bytes]] = []
    for batch, outcome in zip(batches, result.outcomes, strict=True):
        ack = Ack(
            agent_id=batch.agent_id,
            epoch=batch.epoch,
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            stored=outcome.stored,
            duplicates=outcome.duplicates,
            conflicts=[SeqRange(first=a, last=b) for a, b in seq_ranges(outcome.conflicts)],
        )
        out.append((batch.agent_id, wire.encode_ack(wire.ack_for(batch.schema_version, ack))))
    for r in refused:
        if r.ack is not None:
            out.append((r.ack.agent_id, wire.encode_ack(r.ack)))
    return out


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """``[3, 4, 5, 9]`` -> ``[(3, 5), (9, 9)]`` (input sorted ascending)."""
    out: list[tuple[int, int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out
