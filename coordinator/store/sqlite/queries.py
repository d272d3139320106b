"""Read queries of the SQLite store, each on a caller-provided (reader) connection."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.records import (
    MAX_QUERY_LIMIT,
    NO_AGENT,
    CounterSnapshot,
    IngestCounters,
    ReadingQuery,
    ReadingStamp,
)
from edgewatch.coordinator.store.sqlite.rows import (
    AGENT_COLUMNS,
    READING_COLUMNS,
    agent_of,
    result_of,
)
from edgewatch.shared.schemas import Result

_NAMES = {
    "received": "readings_received",
    "stored": "readings_stored",
    "duplicates": "duplicates_dropped",
    "anomalies": "anomalies_stored",
    "conflicts": "conflicts",
    "handover_duplicates": "handover_duplicates",
}


def _counters_of(values: dict[str, int]) -> IngestCounters:
    fields: dict[str, Any] = {"rejected": {}}
    for name, value in values.items():
        if name.startswith("rejected:"):
            fields["rejected"][name.removeprefix("rejected:")] = value
        elif name in _NAMES:
            fields[_NAMES[name]] = value
    return IngestCounters(**fields)


def counters(conn: sqlite3.Connection) -> CounterSnapshot:
    per_agent: dict[str, dict[str, int]] = defaultdict(dict)
    fleet: dict[str, int] = defaultdict(int)
    for agent_id, name, value in conn.execute("SELECT agent_id, name, value FROM counters"):
        fleet[name] += value
        if agent_id != NO_AGENT:
            per_agent[agent_id][name] = value
    return CounterSnapshot(
        fleet=_counters_of(fleet),
        agents={a: _counters_of(v) for a, v in sorted(per_agent.items())},
    )


def agents(conn: sqlite3.Connection) -> list[AgentRecord]:
    rows = conn.execute(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY id")
    return [agent_of(r) for r in rows]


def agent(conn: sqlite3.Connection, agent_id: str) -> AgentRecord | None:
    row = conn.execute(f"SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return None if row is None else agent_of(row)


def _where(query: ReadingQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, op, value in (
        ("sensor_id", "=", query.sensor_id),
        ("agent_id", "=", query.agent_id),
        ("ts", ">=", query.since),
        ("ts", "<", query.until),
        ("anomaly", "=", None if query.anomaly is None else int(query.anomaly)),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    if query.after is not None:
        # Row values compare lexicographically: strictly past the previous page's end.
        where.append(f"(ts, agent_id, epoch, seq) {'<' if query.descending else '>'} (?, ?, ?, ?)")
        params.extend(query.after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    way = "DESC" if query.descending else "ASC"
    order = ", ".join(f"{c} {way}" for c in ("ts", "agent_id", "epoch", "seq"))
    return f"{clause} ORDER BY {order} LIMIT ?", [*params, query.limit]


def readings(conn: sqlite3.Connection, query: ReadingQuery) -> list[Result]:
    if query.limit > MAX_QUERY_LIMIT + 1:
        raise ValueError(f"limit must be within 1..{MAX_QUERY_LIMIT}")
    tail, params = _where(query)
    sql = f"SELECT {READING_COLUMNS} FROM readings {tail}"
    return [result_of(r) for r in conn.execute(sql, params)]


def stamps(conn: sqlite3.Connection, query: ReadingQuery) -> list[ReadingStamp]:
    tail, params = _where(query)
    sql = f"SELECT agent_id, epoch, seq, sensor_id, ts, stored_at FROM readings {tail}"
    return [ReadingStamp(*r) for r in conn.execute(sql, params)]
