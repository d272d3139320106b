"""Decoding every message the coordinator reads, in any schema version it accepts.

The compatibility rule (``shared.schemas``): the current and the previous version are
accepted, and the previous one is upgraded here, so everything past this module sees
only current models. One parse per message: the version is the discriminator of a
pydantic union, not a second pass over the JSON.

>>> decode_status(b'{"schema_version": 1, "agent_id": "a", "state": "online"}').state
'online'
"""

from __future__ import annotations

from typing import Annotated

import orjson
from pydantic import Field, TypeAdapter

from edgewatch.shared.codec import DEFAULT_MAX_BYTES, decode, decode_as
from edgewatch.shared.schemas import (
    PREVIOUS_VERSION,
    SCHEMA_VERSION,
    Ack,
    AgentStatus,
    Heartbeat,
    Hello,
    ResultBatch,
)
from edgewatch.shared.schemas_v1 import HeartbeatV1, HelloV1

ACCEPTED_VERSIONS = (PREVIOUS_VERSION, SCHEMA_VERSION)

_HELLO: TypeAdapter[Hello | HelloV1] = TypeAdapter(
    Annotated[Hello | HelloV1, Field(discriminator="schema_version")]
)
_HEARTBEAT: TypeAdapter[Heartbeat | HeartbeatV1] = TypeAdapter(
    Annotated[Heartbeat | HeartbeatV1, Field(discriminator="schema_version")]
)


def decode_hello(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Hello:
    msg = decode_as(payload, _HELLO, max_bytes=max_bytes)
    return msg.upgrade() if isinstance(msg, HelloV1) else msg


def decode_heartbeat(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Heartbeat:
    msg = decode_as(payload, _HEARTBEAT, max_bytes=max_bytes)
    return msg.upgrade() if isinstance(msg, HeartbeatV1) else msg


def decode_results(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ResultBatch:
    return decode(payload, ResultBatch, max_bytes=max_bytes)


def decode_status(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AgentStatus:
    return decode(payload, AgentStatus, max_bytes=max_bytes)


def decode_ack(payload: bytes, *, max_bytes: int = 64 * 1024) -> Ack:
    """What an agent reads: acks of version 1 (an older coordinator) or 2."""
    return decode(payload, Ack, max_bytes=max_bytes)


def ack_for(batch_version: int, ack: Ack) -> Ack:
    """``ack`` in the version of the batch it answers, which the sending agent speaks.

    A version 1 agent does not know ``conflicts``: its conflicting readings are reported
    as the whole batch rejected for ``conflict`` (the incoming copies are in quarantine).
    """
    if batch_version >= SCHEMA_VERSION or ack.schema_version == batch_version:
        return ack
    if ack.conflicts:
        return ack.model_copy(
            update={"schema_version": 1, "conflicts": [], "rejected": ack.rejected or "conflict"}
        )
    return ack.model_copy(update={"schema_version": 1})


def encode_ack(ack: Ack) -> bytes:
    """The ack's bytes in its own version: a version 1 ack has no ``conflicts`` field at
    all (a version 1 agent forbids unknown fields and would refuse it)."""
    exclude = {"conflicts"} if ack.schema_version == 1 else None
    return orjson.dumps(ack.model_dump(mode="python", exclude=exclude))
