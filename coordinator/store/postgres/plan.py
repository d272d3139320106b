"""The sensor catalog and the fleet plan (placements, desired states, events) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.store.records import (
    AssignmentEvent,
    CatalogSensor,
    Placement,
    StoredDesired,
)
from edgewatch.coordinator.store.sqlite.plan import _CATALOG, _SOURCE, _sensor


def register(conn: Connection, sensors: Sequence[CatalogSensor]) -> int:
    """Upsert by ``sensor_id`` (a pin is kept unless given); how many were new."""
    if not sensors:
        return 0
    new = 0
    statement = sa.text(
        f"INSERT INTO sensor_catalog ({_CATALOG}) VALUES "
        "(:sid, :st, :lat, :lon, :tier, :src, :pin, :origin, :at) "
        "ON CONFLICT (sensor_id) DO UPDATE SET sensor_type = excluded.sensor_type, "
        "latitude = excluded.latitude, longitude = excluded.longitude, "
        "required_tier = excluded.required_tier, source = excluded.source, "
        "pinned_to = COALESCE(excluded.pinned_to, sensor_catalog.pinned_to) "
        # xmax is 0 for a row this statement inserted, set for one it updated.
        "RETURNING (xmax = 0)"
    )
    for s in sorted(sensors, key=lambda s: s.sensor_id):
        row = conn.execute(
            statement,
            {
                "sid": s.sensor_id,
                "st": s.sensor_type,
                "lat": s.latitude,
                "lon": s.longitude,
                "tier": s.required_tier,
                "src": _SOURCE.dump_json(s.source).decode(),
                "pin": s.pinned_to,
                "origin": s.origin,
                "at": s.registered_at,
            },
        ).first()
        new += bool(row and row[0])
    return new


def catalog(conn: Connection) -> list[CatalogSensor]:
    rows = conn.execute(sa.text(f"SELECT {_CATALOG} FROM sensor_catalog ORDER BY sensor_id"))
    return [_sensor(r._mapping) for r in rows]  # type: ignore[arg-type]


def catalog_sensor(conn: Connection, sensor_id: str) -> CatalogSensor | None:
    row = conn.execute(
        sa.text(f"SELECT {_CATALOG} FROM sensor_catalog WHERE sensor_id = :s"), {"s": sensor_id}
    ).first()
    return None if row is None else _sensor(row._mapping)  # type: ignore[arg-type]


def pin(conn: Connection, sensor_id: str, agent_id: str | None) -> bool:
    result = conn.execute(
        sa.text("UPDATE sensor_catalog SET pinned_to = :a WHERE sensor_id = :s"),
        {"a": agent_id, "s": sensor_id},
    )
    return result.rowcount == 1


def placements(conn: Connection) -> dict[str, Placement]:
    rows = conn.execute(sa.text("SELECT sensor_id, agent_id, since FROM placements"))
    return {sid: Placement(agent, float(since)) for sid, agent, since in rows}


def desired_states(conn: Connection) -> dict[str, StoredDesired]:
    rows = conn.execute(
        sa.text("SELECT agent_id, generation, issued_at, document FROM desired_states")
    )
    return {
        agent: StoredDesired(agent, int(gen), float(at), bytes(doc)) for agent, gen, at, doc in rows
    }


def commit_plan(
    conn: Connection,
    new: Mapping[str, Placement],
    desired: Sequence[StoredDesired],
    events: Sequence[AssignmentEvent],
) -> None:
    conn.execute(sa.text("DELETE FROM placements"))
    if new:
        conn.execute(
            sa.text("INSERT INTO placements (sensor_id, agent_id, since) VALUES (:s, :a, :t)"),
            [{"s": s, "a": p.agent_id, "t": p.since} for s, p in sorted(new.items())],
        )
    if desired:
        # A generation never goes back, even if a stale writer comes late.
        conn.execute(
            sa.text(
                "INSERT INTO desired_states (agent_id, generation, issued_at, document) "
                "VALUES (:a, :g, :t, :d) ON CONFLICT (agent_id) DO UPDATE SET "
                "generation = excluded.generation, issued_at = excluded.issued_at, "
                "document = excluded.document "
                "WHERE excluded.generation > desired_states.generation"
            ),
            [
                {"a": d.agent_id, "g": d.generation, "t": d.issued_at, "d": d.document}
                for d in sorted(desired, key=lambda d: d.agent_id)
            ],
        )
    if events:
        conn.execute(
            sa.text(
                "INSERT INTO assignment_events (at, sensor_id, from_agent, to_agent, reason) "
                "VALUES (:at, :s, :f, :t, :r)"
            ),
            [
                {"at": e.at, "s": e.sensor_id, "f": e.from_agent, "t": e.to_agent, "r": e.reason}
                for e in events
            ],
        )


def assignment_events(conn: Connection, after: int, limit: int) -> list[AssignmentEvent]:
    rows = conn.execute(
        sa.text(
            "SELECT id, at, sensor_id, from_agent, to_agent, reason FROM assignment_events "
            "WHERE id > :after ORDER BY id LIMIT :n"
        ),
        {"after": after, "n": limit},
    )
    return [
        AssignmentEvent(
            at=float(at),
            sensor_id=sid,
            from_agent=f,
            to_agent=t,
            reason=reason,
            event_id=int(eid),
        )
        for eid, at, sid, f, t, reason in rows
    ]


def fleet_meta(conn: Connection, key: str) -> str | None:
    row = conn.execute(sa.text("SELECT value FROM fleet_meta WHERE key = :k"), {"k": key}).first()
    return None if row is None else str(row[0])


def set_fleet_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO fleet_meta (key, value) VALUES (:k, :v) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"k": key, "v": value},
    )
