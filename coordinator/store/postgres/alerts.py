"""Alerts on PostgreSQL: alerts by dedupe key, their history, silences, edge receipts.

The same transitions as ``store.sqlite.alerts``; what SQLite's single writer made safe
is made explicit, because the alert engine, edge alerts and people (the API) write from
several threads and replicas at once:

- **one not-cleared alert per key** is the partial unique index ``alerts_active_key``;
  a transaction first takes a transaction-level advisory lock per key it will touch,
  in one order (sorted by the key's hash), so two raises of one key run one after the
  other (the second finds the first's alert and adds its source) and two transactions
  over the same keys never deadlock. The insert still says ``ON CONFLICT DO NOTHING``
  against the index: the index, not the lock, is what guarantees the rule;
- the alert row is read ``FOR UPDATE`` before it is changed;
- edge receipts are inserted in key order, ``ON CONFLICT DO NOTHING``: a resend that
  reaches another replica at the same moment waits for the first and is a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
from edgewatch.coordinator.errors import StoreUnavailable
from edgewatch.coordinator.store.postgres import feed
from edgewatch.coordinator.store.postgres.concern import PgConcern
from edgewatch.coordinator.store.records import FeedEntry
from edgewatch.coordinator.store.sqlite.alerts import (
    _ALERT,
    _EVENT,
    _SILENCE,
    _alert,
    _event,
    _silence,
)

# pg_advisory_xact_lock(int4, int4) namespace of alert keys (the two-int key space does
# not overlap the bigint one of migrations and partitions).
KEY_LOCK = 0x65644131  # "edA1"
_LOCK_KEYS = (
    # The inner ORDER BY sorts before the (volatile) lock calls are evaluated.
    "SELECT pg_advisory_xact_lock(:ns, h) FROM (SELECT DISTINCT hashtext(k) AS h "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS sorted"
)
_RAISE = (
    "INSERT INTO alerts (key, rule, scope, severity, state, value, message, raised_at, "
    "updated_at, sources, silenced) VALUES (:key, :rule, :scope, :severity, 'open', :value, "
    ":message, :at, :at, :sources, :silenced) "
    f"ON CONFLICT (key) WHERE state <> 'cleared' DO NOTHING RETURNING {_ALERT}"
)
# The readings of the entries at positions :ps, in the order given, each in seq order.
_OF_ENTRIES = (
    "FROM unnest(CAST(:ps AS bigint[])) WITH ORDINALITY AS e (position, n) "
    "JOIN ingest_feed f ON f.position = e.position "
    "JOIN reading_keys k ON k.agent_id = f.agent_id AND k.epoch = f.epoch "
    "AND k.seq BETWEEN f.first_seq AND f.last_seq AND k.batch_id = f.batch_id "
    "JOIN readings r ON r.ts = k.ts AND r.agent_id = k.agent_id AND r.epoch = k.epoch "
    "AND r.seq = k.seq"
)


def lock_keys(conn: Connection, keys: Sequence[str]) -> None:
    """Serialise this transaction with every other one touching any of ``keys``."""
    if keys:
        conn.execute(sa.text(_LOCK_KEYS), {"ns": KEY_LOCK, "keys": sorted(set(keys))})


def _active(conn: Connection, key: str) -> Alert | None:
    row = conn.execute(
        sa.text(f"SELECT {_ALERT} FROM alerts WHERE key = :k AND state <> 'cleared' FOR UPDATE"),
        {"k": key},
    ).first()
    return None if row is None else _alert(row)


def _by_id(conn: Connection, alert_id: int, *, lock: bool = False) -> Alert | None:
    row = conn.execute(
        sa.text(f"SELECT {_ALERT} FROM alerts WHERE id = :id{' FOR UPDATE' if lock else ''}"),
        {"id": alert_id},
    ).first()
    return None if row is None else _alert(row)


def _set(conn: Connection, alert_id: int, assignments: str, **values: object) -> Alert:
    """``UPDATE alerts SET <assignments>`` of one alert; the alert as it is now."""
    row = conn.execute(
        sa.text(f"UPDATE alerts SET {assignments} WHERE id = :id RETURNING {_ALERT}"),
        {"id": alert_id, **values},
    ).first()
    if row is None:  # pragma: no cover - locked by this transaction
        raise LookupError(alert_id)
    return _alert(row)


def _log(conn: Connection, alert_id: int, c: Change, kind: EventKind, note: str = "") -> AlertEvent:
    text = note or c.note
    row = conn.execute(
        sa.text(
            "INSERT INTO alert_events (alert_id, at, kind, actor, value, note) "
            "VALUES (:a, :at, :kind, :actor, :value, :note) RETURNING id"
        ),
        {"a": alert_id, "at": c.at, "kind": kind, "actor": c.actor, "value": c.value, "note": text},
    ).first()
    return AlertEvent(int(row[0]) if row else 0, alert_id, c.at, kind, c.actor, c.value, text)


def _sources(a: Alert, source: str) -> str:
    return orjson.dumps(sorted({*a.sources, source})).decode()


def _raise(conn: Connection, c: Change, current: Alert | None) -> Transition | None:
    if current is None:
        row = conn.execute(
            sa.text(_RAISE),
            {
                "key": c.key,
                "rule": c.rule,
                "scope": c.scope,
                "severity": c.severity,
                "value": c.value,
                "message": c.message,
                "at": c.at,
                "sources": orjson.dumps([c.source]).decode(),
                "silenced": c.silenced,
            },
        ).first()
        if row is not None:
            raised = _alert(row)
            return Transition(raised, _log(conn, raised.id, c, "raised"))
        # Open already, by a writer that did not take the key lock: that one is the alert.
        current = _active(conn, c.key)
        if current is None:
            raise StoreUnavailable(f"alert {c.key} was raised and cleared meanwhile; retry")
    if c.source in current.sources:
        return None
    # The other side (edge or cloud) saw the same thing: one alert, both sources.
    now = _set(
        conn, current.id, "sources = :s, updated_at = :at", s=_sources(current, c.source), at=c.at
    )
    return Transition(now, _log(conn, current.id, c, "updated", f"also seen by {c.source}"))


def apply_change(conn: Connection, c: Change) -> Transition | None:
    """Carry out one change; None when there is nothing to do (already so)."""
    if c.alert_id is not None:
        current = _by_id(conn, c.alert_id, lock=True)
    else:
        current = _active(conn, c.key)
    if c.kind == "raise":
        return _raise(conn, c, current)
    if current is None or current.state == "cleared":
        return None
    if c.kind == "update":
        now = _set(
            conn,
            current.id,
            "value = :v, message = :m, updated_at = :at",
            v=c.value,
            m=c.message or current.message,
            at=c.at,
        )
        return Transition(now, _log(conn, current.id, c, "updated"))
    if c.kind == "ack":
        if current.state == "acknowledged":
            return None
        now = _set(
            conn,
            current.id,
            "state = 'acknowledged', acknowledged_at = :at, acknowledged_by = :by, "
            "updated_at = :at",
            at=c.at,
            by=c.actor,
        )
        return Transition(now, _log(conn, current.id, c, "acknowledged"))
    now = _set(
        conn,
        current.id,
        "state = 'cleared', cleared_at = :at, cleared_by = :by, updated_at = :at, "
        "value = COALESCE(CAST(:v AS double precision), value)",
        at=c.at,
        by=c.actor,
        v=c.value,
    )
    return Transition(now, _log(conn, current.id, c, "cleared"))


def apply_changes(conn: Connection, changes: Sequence[Change]) -> list[Transition]:
    """``changes`` in order, under the locks of their keys."""
    lock_keys(conn, [c.key for c in changes])
    return [t for c in changes if (t := apply_change(conn, c)) is not None]


def receive_edge(conn: Connection, receipts: Sequence[EdgeReceipt]) -> list[EdgeReceipt]:
    """Record edge alert events; the ones not seen before (a resend is a duplicate), in
    the order given."""
    first: dict[tuple[str, int, int], EdgeReceipt] = {}
    for r in receipts:
        first.setdefault((r.agent_id, r.epoch, r.seq), r)
    if not first:
        return []
    rows = sorted(first.values(), key=lambda r: (r.agent_id, r.epoch, r.seq))
    inserted = conn.execute(
        sa.text(
            "INSERT INTO edge_alert_events (agent_id, epoch, seq, received_at, payload) "
            "SELECT * FROM unnest(CAST(:a AS text[]), CAST(:e AS bigint[]), "
            "CAST(:s AS bigint[]), CAST(:at AS float8[]), CAST(:p AS bytea[])) "
            "AS u (agent_id, epoch, seq) ORDER BY 1, 2, 3 "
            "ON CONFLICT (agent_id, epoch, seq) DO NOTHING RETURNING agent_id, epoch, seq"
        ),
        {
            "a": [r.agent_id for r in rows],
            "e": [r.epoch for r in rows],
            "s": [r.seq for r in rows],
            "at": [r.received_at for r in rows],
            "p": [r.payload for r in rows],
        },
    )
    fresh = {(a, int(e), int(s)) for a, e, s in inserted}
    return [r for k, r in first.items() if k in fresh]


def alerts(conn: Connection, q: AlertQuery) -> list[Alert]:
    where: list[str] = []
    params: dict[str, Any] = {"n": q.limit}
    if q.state == "active":
        where.append("state <> 'cleared'")
    elif q.state is not None:
        where.append("state = :state")
        params["state"] = q.state
    for column, value in (("rule", q.rule), ("scope", q.scope), ("severity", q.severity)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if q.since is not None:
        where.append("updated_at >= :since")
        params["since"] = q.since
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        sa.text(f"SELECT {_ALERT} FROM alerts {clause} ORDER BY id DESC LIMIT :n"), params
    )
    return [_alert(r) for r in rows]


def history(conn: Connection, alert_id: int) -> list[AlertEvent]:
    rows = conn.execute(
        sa.text(f"SELECT {_EVENT} FROM alert_events WHERE alert_id = :a ORDER BY id"),
        {"a": alert_id},
    )
    return [_event(r) for r in rows]


def add_silence(conn: Connection, s: Silence) -> Silence:
    row = conn.execute(
        sa.text(
            "INSERT INTO silences (rule, scope, starts_at, ends_at, reason, created_by) "
            "VALUES (:rule, :scope, :starts, :ends, :reason, :by) RETURNING id"
        ),
        {
            "rule": s.rule,
            "scope": s.scope,
            "starts": s.starts_at,
            "ends": s.ends_at,
            "reason": s.reason,
            "by": s.created_by,
        },
    ).first()
    silence_id = int(row[0]) if row else 0
    return Silence(silence_id, s.rule, s.scope, s.starts_at, s.ends_at, s.reason, s.created_by)


def end_silence(conn: Connection, silence_id: int, at: float) -> bool:
    result = conn.execute(
        sa.text("UPDATE silences SET ends_at = :at WHERE id = :id AND ends_at > :at"),
        {"at": at, "id": silence_id},
    )
    return result.rowcount > 0


def silences(conn: Connection, active_at: float | None) -> list[Silence]:
    if active_at is None:
        rows = conn.execute(sa.text(f"SELECT {_SILENCE} FROM silences ORDER BY id"))
    else:
        rows = conn.execute(
            sa.text(
                f"SELECT {_SILENCE} FROM silences WHERE starts_at <= :at AND ends_at > :at "
                "ORDER BY id"
            ),
            {"at": active_at},
        )
    return [_silence(r) for r in rows]


def feed_critical(
    conn: Connection, entries: Sequence[FeedEntry], min_confidence: float
) -> list[CriticalReading]:
    """Readings of ``entries`` judged anomalous with ``confidence >= min_confidence``;
    entries that stored no anomaly are not even looked at. One query for the page."""
    flagged = [e.position for e in entries if e.anomalies]
    if not flagged:
        return []
    rows = conn.execute(
        sa.text(
            "SELECT r.sensor_id, r.sensor_type, r.agent_id, r.ts, r.confidence, r.scorer "
            f"{_OF_ENTRIES} WHERE r.anomaly AND r.confidence >= :c ORDER BY e.n, r.seq"
        ),
        {"ps": flagged, "c": min_confidence},
    )
    return [CriticalReading(*r) for r in rows]


# -- the store's methods -------------------------------------------------------------------------


class PgAlerts(PgConcern):
    """``AlertStore`` on PostgreSQL (mixed into ``PostgresStore``)."""

    def apply_alert_changes(
        self,
        changes: Sequence[Change],
        consumer: str | None = None,
        position: int | None = None,
    ) -> list[Transition]:
        with self._transaction() as conn:
            done = apply_changes(conn, changes)
            if consumer is not None and position is not None:
                feed.set_watermark(conn, consumer, position, time.time())
        return done

    def apply_edge_alerts(
        self,
        receipts: Sequence[EdgeReceipt],
        to_changes: Callable[[Sequence[EdgeReceipt]], Sequence[Change]],
    ) -> list[Transition]:
        with self._transaction() as conn:
            new = receive_edge(conn, receipts)
            return apply_changes(conn, to_changes(new)) if new else []

    def feed_critical(
        self, entries: Sequence[FeedEntry], min_confidence: float
    ) -> list[CriticalReading]:
        return self._read(lambda c: feed_critical(c, entries, min_confidence))

    def alerts(self, query: AlertQuery) -> list[Alert]:
        return self._read(lambda c: alerts(c, query))

    def alert(self, alert_id: int) -> Alert | None:
        return self._read(lambda c: _by_id(c, alert_id))

    def alert_history(self, alert_id: int) -> list[AlertEvent]:
        return self._read(lambda c: history(c, alert_id))

    def add_silence(self, silence: Silence) -> Silence:
        with self._transaction() as conn:
            return add_silence(conn, silence)

    def end_silence(self, silence_id: int, at: float) -> bool:
        with self._transaction() as conn:
            return end_silence(conn, silence_id, at)

    def silences(self, active_at: float | None = None) -> list[Silence]:
        return self._read(lambda c: silences(c, active_at))
