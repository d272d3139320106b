"""The agent's alert events, durable until acked, in a sequence space of their own.

Beside the readings' chunks in the outbox file (``alert_events``, migration 4): each
event gets the next ``seq`` of its own counter (``meta.next_alert_seq``), the outbox's
epoch, and stays until an ``EdgeAlertAck`` covers it. Alert events are rare and small,
so they are bounded by count (``max_events``, the oldest dropped and counted).

One worker thread owns it, like the outbox; its own connection to the same file.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edgewatch.agent.errors import OutboxError
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingAlert:
    seq: int
    created: float
    payload: bytes


class AlertLog:
    def __init__(self, path: Path, *, max_events: int = 10_000, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self.max_events = max_events
        self.dropped = 0
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("PRAGMA synchronous=FULL")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'next_alert_seq'").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"alert log in {path}: {exc}") from exc
        self.next_seq = int(row[0]) if row else 0

    def append(self, payloads: list[bytes]) -> int:
        """Store events; the seq of the first. Raises ``OutboxError`` when it cannot."""
        first = self.next_seq
        now = self._clock.time()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO alert_events (seq, created, payload) VALUES (?, ?, ?)",
                [(first + i, now, p) for i, p in enumerate(payloads)],
            )
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('next_alert_seq', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(first + len(payloads)),),
            )
            cur = self._db.execute(
                "DELETE FROM alert_events WHERE seq < ?", (first + len(payloads) - self.max_events,)
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise OutboxError(f"cannot store alert events: {exc}") from exc
        if cur.rowcount > 0:
            self.dropped += cur.rowcount
            log.warning("alert log bound reached: dropped the oldest %d event(s)", cur.rowcount)
        self.next_seq = first + len(payloads)
        return first

    def pending(self, limit: int = 500) -> list[PendingAlert]:
        rows = self._db.execute(
            "SELECT seq, created, payload FROM alert_events ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [PendingAlert(int(a), float(b), bytes(c)) for a, b, c in rows]

    def acknowledge(self, first_seq: int, last_seq: int) -> int:
        cur = self._db.execute(
            "DELETE FROM alert_events WHERE seq BETWEEN ? AND ?", (first_seq, last_seq)
        )
        return max(cur.rowcount, 0)

    def close(self) -> None:
        self._db.close()
