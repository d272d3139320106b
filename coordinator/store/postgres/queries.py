"""Read queries of the PostgreSQL store: readings, stamps, counters, agents.

The same SQL as ``store.sqlite.queries`` where the dialects agree; the rows are turned
into records by the same converters (``store.sqlite.rows``), so both stores answer alike.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.records import (
    MAX_QUERY_LIMIT,
    NO_AGENT,
    CounterSnapshot,
    ReadingQuery,
    ReadingStamp,
)
from edgewatch.coordinator.store.sqlite.queries import _counters_of
from edgewatch.coordinator.store.sqlite.rows import (
    AGENT_COLUMNS,
    READING_COLUMNS,
    agent_of,
    result_of,
)
from edgewatch.shared.schemas import Result


def counters(conn: Connection) -> CounterSnapshot:
    per_agent: dict[str, dict[str, int]] = defaultdict(dict)
    fleet: dict[str, int] = defaultdict(int)
    for agent_id, name, value in conn.execute(
        sa.text("SELECT agent_id, name, value FROM counters")
    ):
        fleet[name] += int(value)
        if agent_id != NO_AGENT:
            per_agent[agent_id][name] = int(value)
    return CounterSnapshot(
        fleet=_counters_of(fleet),
        agents={a: _counters_of(v) for a, v in sorted(per_agent.items())},
    )


def agents(conn: Connection) -> list[AgentRecord]:
    rows = conn.execute(sa.text(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY id"))
    return [agent_of(r._mapping) for r in rows]  # type: ignore[arg-type]


def agent(conn: Connection, agent_id: str) -> AgentRecord | None:
    row = conn.execute(
        sa.text(f"SELECT {AGENT_COLUMNS} FROM agents WHERE id = :id"), {"id": agent_id}
    ).first()
    return None if row is None else agent_of(row._mapping)  # type: ignore[arg-type]


def _where(query: ReadingQuery) -> tuple[str, dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    for n, (column, op, value) in enumerate(
        (
            ("sensor_id", "=", query.sensor_id),
            ("agent_id", "=", query.agent_id),
            ("ts", ">=", query.since),
            ("ts", "<", query.until),
            ("anomaly", "=", query.anomaly),
        )
    ):
        if value is not None:
            where.append(f"{column} {op} :p{n}")
            params[f"p{n}"] = value
    if query.after is not None:
        # Row values compare lexicographically: strictly past the previous page's end.
        way = "<" if query.descending else ">"
        where.append(f"(ts, agent_id, epoch, seq) {way} (:a0, :a1, :a2, :a3)")
        params.update({f"a{i}": v for i, v in enumerate(query.after)})
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    way = "DESC" if query.descending else "ASC"
    order = ", ".join(f"{c} {way}" for c in ("ts", "agent_id", "epoch", "seq"))
    params["limit"] = query.limit
    return f"{clause} ORDER BY {order} LIMIT :limit", params


def readings(conn: Connection, query: ReadingQuery) -> list[Result]:
    if query.limit > MAX_QUERY_LIMIT + 1:
        raise ValueError(f"limit must be within 1..{MAX_QUERY_LIMIT}")
    tail, params = _where(query)
    rows = conn.execute(sa.text(f"SELECT {READING_COLUMNS} FROM readings {tail}"), params)
    return [result_of(r._mapping) for r in rows]  # type: ignore[arg-type]


def stamps(conn: Connection, query: ReadingQuery) -> list[ReadingStamp]:
    tail, params = _where(query)
    sql = f"SELECT agent_id, epoch, seq, sensor_id, ts, stored_at FROM readings {tail}"
    return [ReadingStamp(*r) for r in conn.execute(sa.text(sql), params)]
