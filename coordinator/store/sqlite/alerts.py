"""Alerts on SQLite: alerts by dedupe key, their history, silences, edge receipts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from edgewatch.coordinator.alerts.records import (
    Alert,
    AlertEvent,
    AlertQuery,
    Change,
    CriticalReading,
    EdgeReceipt,
    EventKind,
    Silence,
    Transition,
)
from edgewatch.coordinator.store.records import FeedEntry

_ALERT = (
    "id, key, rule, scope, severity, state, value, message, raised_at, updated_at, "
    "acknowledged_at, acknowledged_by, cleared_at, cleared_by, sources, silenced"
)
_EVENT = "id, alert_id, at, kind, actor, value, note"
_SILENCE = "id, rule, scope, starts_at, ends_at, reason, created_by"


def _alert(r: Sequence[Any]) -> Alert:
    return Alert(
        id=int(r[0]),
        key=r[1],
        rule=r[2],
        scope=r[3],
        severity=r[4],
        state=r[5],
        value=r[6],
        message=r[7],
        raised_at=r[8],
        updated_at=r[9],
        acknowledged_at=r[10],
        acknowledged_by=r[11],
        cleared_at=r[12],
        cleared_by=r[13],
        sources=tuple(orjson.loads(r[14])),
        silenced=bool(r[15]),
    )


def _event(r: Sequence[Any]) -> AlertEvent:
    return AlertEvent(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6])


def _silence(r: Sequence[Any]) -> Silence:
    return Silence(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])


def _active_by_key(cur: sqlite3.Cursor, key: str) -> Alert | None:
    row = cur.execute(
        f"SELECT {_ALERT} FROM alerts WHERE key = ? AND state != 'cleared'", (key,)
    ).fetchone()
    return None if row is None else _alert(row)


def _by_id(cur: sqlite3.Cursor | sqlite3.Connection, alert_id: int) -> Alert | None:
    row = cur.execute(f"SELECT {_ALERT} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else _alert(row)


def _log(
    cur: sqlite3.Cursor, alert_id: int, c: Change, kind: EventKind, note: str = ""
) -> AlertEvent:
    cur.execute(
        "INSERT INTO alert_events (alert_id, at, kind, actor, value, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (alert_id, c.at, kind, c.actor, c.value, note or c.note),
    )
    return AlertEvent(
        int(cur.lastrowid or 0), alert_id, c.at, kind, c.actor, c.value, note or c.note
    )


def _sources(a: Alert, source: str) -> str:
    return orjson.dumps(sorted({*a.sources, source})).decode()


def apply_change(cur: sqlite3.Cursor, c: Change) -> Transition | None:
    """Carry out one change; None when there is nothing to do (already so)."""
    current = _by_id(cur, c.alert_id) if c.alert_id is not None else _active_by_key(cur, c.key)
    if c.kind == "raise":
        if current is not None:
            if c.source in current.sources:
                return None
            # The other side (edge or cloud) saw the same thing: one alert, both sources.
            cur.execute(
                "UPDATE alerts SET sources = ?, updated_at = ? WHERE id = ?",
                (_sources(current, c.source), c.at, current.id),
            )
            event = _log(cur, current.id, c, "updated", f"also seen by {c.source}")
            return Transition(_need(cur, current.id), event)
        cur.execute(
            "INSERT INTO alerts (key, rule, scope, severity, state, value, message, raised_at, "
            "updated_at, sources, silenced) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
            (
                c.key,
                c.rule,
                c.scope,
                c.severity,
                c.value,
                c.message,
                c.at,
                c.at,
                orjson.dumps([c.source]).decode(),
                int(c.silenced),
            ),
        )
        alert_id = int(cur.lastrowid or 0)
        return Transition(_need(cur, alert_id), _log(cur, alert_id, c, "raised"))
    if current is None or current.state == "cleared":
        return None
    if c.kind == "update":
        cur.execute(
            "UPDATE alerts SET value = ?, message = ?, updated_at = ? WHERE id = ?",
            (c.value, c.message or current.message, c.at, current.id),
        )
        return Transition(_need(cur, current.id), _log(cur, current.id, c, "updated"))
    if c.kind == "ack":
        if current.state == "acknowledged":
            return None
        cur.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, "
            "updated_at = ? WHERE id = ?",
            (c.at, c.actor, c.at, current.id),
        )
        return Transition(_need(cur, current.id), _log(cur, current.id, c, "acknowledged"))
    cur.execute(
        "UPDATE alerts SET state = 'cleared', cleared_at = ?, cleared_by = ?, updated_at = ?, "
        "value = COALESCE(?, value) WHERE id = ?",
        (c.at, c.actor, c.at, c.value, current.id),
    )
    return Transition(_need(cur, current.id), _log(cur, current.id, c, "cleared"))


def _need(cur: sqlite3.Cursor, alert_id: int) -> Alert:
    found = _by_id(cur, alert_id)
    if found is None:  # pragma: no cover - written in this transaction
        raise LookupError(alert_id)
    return found


def receive_edge(cur: sqlite3.Cursor, receipts: Sequence[EdgeReceipt]) -> list[EdgeReceipt]:
    """Record edge alert events; the ones not seen before (a resend is a duplicate)."""
    new = []
    for r in receipts:
        cur.execute(
            "INSERT INTO edge_alert_events (agent_id, epoch, seq, received_at, payload) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id, epoch, seq) DO NOTHING",
            (r.agent_id, r.epoch, r.seq, r.received_at, r.payload),
        )
        if cur.rowcount:
            new.append(r)
    return new


def alerts(conn: sqlite3.Connection, q: AlertQuery) -> list[Alert]:
    where: list[str] = []
    params: list[Any] = []
    if q.state == "active":
        where.append("state != 'cleared'")
    elif q.state is not None:
        where.append("state = ?")
        params.append(q.state)
    for column, value in (("rule", q.rule), ("scope", q.scope), ("severity", q.severity)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if q.since is not None:
        where.append("updated_at >= ?")
        params.append(q.since)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_ALERT} FROM alerts {clause} ORDER BY id DESC LIMIT ?", [*params, q.limit]
    )
    return [_alert(r) for r in rows]


def alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    return _by_id(conn, alert_id)


def history(conn: sqlite3.Connection, alert_id: int) -> list[AlertEvent]:
    rows = conn.execute(
        f"SELECT {_EVENT} FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,)
    )
    return [_event(r) for r in rows]


def add_silence(cur: sqlite3.Cursor, s: Silence) -> Silence:
    cur.execute(
        "INSERT INTO silences (rule, scope, starts_at, ends_at, reason, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (s.rule, s.scope, s.starts_at, s.ends_at, s.reason, s.created_by),
    )
    return Silence(
        int(cur.lastrowid or 0), s.rule, s.scope, s.starts_at, s.ends_at, s.reason, s.created_by
    )


def end_silence(cur: sqlite3.Cursor, silence_id: int, at: float) -> bool:
    cur.execute(
        "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?", (at, silence_id, at)
    )
    return cur.rowcount > 0


def silences(conn: sqlite3.Connection, active_at: float | None) -> list[Silence]:
    if active_at is None:
        rows = conn.execute(f"SELECT {_SILENCE} FROM silences ORDER BY id")
    else:
        rows = conn.execute(
            f"SELECT {_SILENCE} FROM silences WHERE starts_at <= ? AND ends_at > ? ORDER BY id",
            (active_at, active_at),
        )
    return [_silence(r) for r in rows]


def feed_critical(
    conn: sqlite3.Connection, entries: Sequence[FeedEntry], min_confidence: float
) -> list[CriticalReading]:
    """Readings of ``entries`` judged anomalous with ``confidence >= min_confidence``;
    entries that stored no anomaly are not even looked at."""
    out: list[CriticalReading] = []
    for e in entries:
        if not e.anomalies:
            continue
        rows = conn.execute(
            "SELECT sensor_id, sensor_type, agent_id, ts, confidence, scorer FROM readings "
            "WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ? AND feed_id = ? "
            "AND anomaly = 1 AND confidence >= ? ORDER BY seq",
            (e.agent_id, e.epoch, e.first_seq, e.last_seq, e.position, min_confidence),
        )
        out.extend(CriticalReading(*r) for r in rows)
    return out
