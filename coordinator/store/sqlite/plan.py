"""The sensor catalog and the fleet plan (placements, desired states, events) on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from pydantic import TypeAdapter

from edgewatch.coordinator.store.records import (
    AssignmentEvent,
    CatalogSensor,
    Placement,
    StoredDesired,
)
from edgewatch.shared.desired import SensorSource

_SOURCE: TypeAdapter[SensorSource] = TypeAdapter(SensorSource)
_CATALOG = (
    "sensor_id, sensor_type, latitude, longitude, required_tier, source, pinned_to, origin,"
    " registered_at"
)


def _sensor(row: sqlite3.Row) -> CatalogSensor:
    return CatalogSensor(
        sensor_id=row["sensor_id"],
        sensor_type=row["sensor_type"],
        source=_SOURCE.validate_json(row["source"]),
        latitude=row["latitude"],
        longitude=row["longitude"],
        required_tier=row["required_tier"],
        pinned_to=row["pinned_to"],
        origin=row["origin"],
        registered_at=float(row["registered_at"]),
    )


def register(cur: sqlite3.Cursor, sensors: Sequence[CatalogSensor]) -> int:
    before = cur.execute("SELECT COUNT(*) FROM sensor_catalog").fetchone()[0]
    cur.executemany(
        f"INSERT INTO sensor_catalog ({_CATALOG}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sensor_id) DO UPDATE SET sensor_type = excluded.sensor_type, "
        "latitude = excluded.latitude, longitude = excluded.longitude, "
        "required_tier = excluded.required_tier, source = excluded.source, "
        "pinned_to = COALESCE(excluded.pinned_to, pinned_to)",
        [
            (
                s.sensor_id,
                s.sensor_type,
                s.latitude,
                s.longitude,
                s.required_tier,
                _SOURCE.dump_json(s.source).decode(),
                s.pinned_to,
                s.origin,
                s.registered_at,
            )
            for s in sensors
        ],
    )
    after = cur.execute("SELECT COUNT(*) FROM sensor_catalog").fetchone()[0]
    return int(after - before)


def catalog(conn: sqlite3.Connection) -> list[CatalogSensor]:
    rows = conn.execute(f"SELECT {_CATALOG} FROM sensor_catalog ORDER BY sensor_id")
    return [_sensor(r) for r in rows]


def catalog_sensor(conn: sqlite3.Connection, sensor_id: str) -> CatalogSensor | None:
    row = conn.execute(
        f"SELECT {_CATALOG} FROM sensor_catalog WHERE sensor_id = ?", (sensor_id,)
    ).fetchone()
    return None if row is None else _sensor(row)


def pin(cur: sqlite3.Cursor, sensor_id: str, agent_id: str | None) -> bool:
    cur.execute(
        "UPDATE sensor_catalog SET pinned_to = ? WHERE sensor_id = ?", (agent_id, sensor_id)
    )
    return cur.rowcount == 1


def placements(conn: sqlite3.Connection) -> dict[str, Placement]:
    rows = conn.execute("SELECT sensor_id, agent_id, since FROM placements")
    return {r["sensor_id"]: Placement(r["agent_id"], float(r["since"])) for r in rows}


def desired_states(conn: sqlite3.Connection) -> dict[str, StoredDesired]:
    rows = conn.execute("SELECT agent_id, generation, issued_at, document FROM desired_states")
    return {
        r["agent_id"]: StoredDesired(
            r["agent_id"], int(r["generation"]), float(r["issued_at"]), bytes(r["document"])
        )
        for r in rows
    }


def commit_plan(
    cur: sqlite3.Cursor,
    new: Mapping[str, Placement],
    desired: Sequence[StoredDesired],
    events: Sequence[AssignmentEvent],
) -> None:
    cur.execute("DELETE FROM placements")
    cur.executemany(
        "INSERT INTO placements (sensor_id, agent_id, since) VALUES (?, ?, ?)",
        [(s, p.agent_id, p.since) for s, p in sorted(new.items())],
    )
    # MAX: a generation never goes back, even if a stale writer comes late.
    cur.executemany(
        "INSERT INTO desired_states (agent_id, generation, issued_at, document) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
        "generation = excluded.generation, issued_at = excluded.issued_at, "
        "document = excluded.document WHERE excluded.generation > desired_states.generation",
        [(d.agent_id, d.generation, d.issued_at, d.document) for d in desired],
    )
    cur.executemany(
        "INSERT INTO assignment_events (at, sensor_id, from_agent, to_agent, reason) "
        "VALUES (?, ?, ?, ?, ?)",
        [(e.at, e.sensor_id, e.from_agent, e.to_agent, e.reason) for e in events],
    )


def assignment_events(conn: sqlite3.Connection, after: int, limit: int) -> list[AssignmentEvent]:
    rows = conn.execute(
        "SELECT id, at, sensor_id, from_agent, to_agent, reason FROM assignment_events "
        "WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )
    return [
        AssignmentEvent(
            at=float(r["at"]),
            sensor_id=r["sensor_id"],
            from_agent=r["from_agent"],
            to_agent=r["to_agent"],
            reason=r["reason"],
            event_id=int(r["id"]),
        )
        for r in rows
    ]


def fleet_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM fleet_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_fleet_meta(cur: sqlite3.Cursor, key: str, value: str) -> None:
    cur.execute(
        "INSERT INTO fleet_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
