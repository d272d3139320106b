"""``GET /api/v1/readings``: stored readings by sensor, agent, time and verdict, paged.

Pages are cut by an opaque cursor (the sort key of the last reading returned), never by
an offset, so paging through a store that is being written neither skips nor repeats.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, SerializeAsAny

from edgewatch.coordinator.api.deps import StoreDep
from edgewatch.coordinator.errors import BadRequestError
from edgewatch.coordinator.store import ReadingQuery
from edgewatch.coordinator.store.records import MAX_QUERY_LIMIT, ReadingKey
from edgewatch.shared.schemas import Result

router = APIRouter(prefix="/readings", tags=["readings"])


class CloudOut(BaseModel):
    """The coordinator's own verdict on a reading it re-scored (``coordinator.rescoring``)."""

    score: float | None
    anomaly: bool
    scorer: str
    why: str


class ReadingOut(Result):
    """A stored reading with the edge's verdict and, when re-scored, the cloud's."""

    cloud: CloudOut | None = None


class ReadingsPage(BaseModel):
    # ``ReadingOut`` items (with ``cloud``) when asked for with ``cloud=true``.
    readings: list[SerializeAsAny[Result]]
    # Pass it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


def encode_cursor(key: ReadingKey, order: str) -> str:
    raw = orjson.dumps([order, *key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> ReadingKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        way, ts, agent_id, epoch, seq = orjson.loads(raw)
        key: ReadingKey = (float(ts), str(agent_id), int(epoch), int(seq))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequestError("cursor", "not a cursor this API handed out") from exc
    if way != order:
        raise BadRequestError("cursor", f"cursor was made for order={way}, not {order}")
    return key


@router.get("")
def list_readings(
    store: StoreDep,
    sensor_id: Annotated[str | None, Query(max_length=128)] = None,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(description="ts >= since (epoch seconds)")] = None,
    until: Annotated[float | None, Query(description="ts < until (epoch seconds)")] = None,
    anomaly: Annotated[bool | None, Query(description="only (non-)anomalous readings")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="by ts")] = "asc",
    cursor: Annotated[str | None, Query(max_length=400, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 1000,
    cloud: Annotated[bool, Query(description="add the cloud's verdict where re-scored")] = False,
) -> ReadingsPage:
    query = ReadingQuery(
        sensor_id=sensor_id,
        agent_id=agent_id,
        since=since,
        until=until,
        anomaly=anomaly,
        descending=order == "desc",
        after=None if cursor is None else decode_cursor(cursor, order),
        limit=limit + 1,  # one more tells whether another page exists
    )
    rows = store.readings(query)
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if page else None
    next_cursor = (
        encode_cursor((last.ts, last.agent_id, last.epoch, last.seq), order)
        if more and last is not None
        else None
    )
    if not cloud:
        return ReadingsPage(readings=list(page), next_cursor=next_cursor)
    verdicts = store.cloud_verdicts([(r.agent_id, r.epoch, r.seq) for r in page])
    out: list[Result] = []
    for r in page:
        v = verdicts.get((r.agent_id, r.epoch, r.seq))
        seen = (
            None
            if v is None
            else CloudOut(score=v.score, anomaly=v.anomaly, scorer=v.scorer, why=v.why)
        )
        out.append(ReadingOut.model_construct(**dict(r), cloud=seen))
    return ReadingsPage(readings=out, next_cursor=next_cursor)
