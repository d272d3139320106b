"""Numbered schema migrations for the SQLite store, each applied in its own transaction.

A migration is never edited once released: change the schema by appending one. The
applied numbers are recorded in ``schema_migrations``, so opening a store is idempotent.
The ``readings`` columns are a contract (the test ledger and the pipeline bench read them).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass

from edgewatch.coordinator.errors import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "readings",
        (
            # Clustered on the dedupe key (WITHOUT ROWID): one B-tree insert fewer per
            # reading than a rowid table plus a UNIQUE index, at 100k readings/s.
            """CREATE TABLE readings (
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                sensor_id TEXT NOT NULL,
                sensor_type TEXT NOT NULL,
                ts REAL NOT NULL,
                metrics TEXT NOT NULL,
                status TEXT,
                label INTEGER,
                score REAL,
                anomaly INTEGER NOT NULL,
                confidence REAL NOT NULL,
                scorer TEXT NOT NULL,
                stored_at REAL NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            ) WITHOUT ROWID""",
            "CREATE INDEX readings_sensor_ts ON readings (sensor_id, ts)",
            "CREATE INDEX readings_ts ON readings (ts)",
        ),
    ),
    Migration(
        2,
        "agents",
        (
            """CREATE TABLE agents (
                id TEXT PRIMARY KEY,
                tier TEXT,
                latitude REAL,
                longitude REAL,
                version TEXT,
                epoch INTEGER,
                first_seen REAL NOT NULL,
                last_seen REAL NOT NULL,
                heartbeat TEXT,
                heartbeat_at REAL,
                state TEXT NOT NULL,
                models TEXT NOT NULL DEFAULT '{}'
            )""",
        ),
    ),
    Migration(
        3,
        "counters",
        (
            # agent_id '' holds refusals that cannot be attributed to any agent.
            """CREATE TABLE counters (
                agent_id TEXT NOT NULL,
                name TEXT NOT NULL,
                value INTEGER NOT NULL,
                PRIMARY KEY (agent_id, name)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        4,
        "quarantine",
        (
            # Batches refused for good but acked (e.g. ts_future): kept whole, so an ack
            # never deletes the only copy of data that a wrong clock made look bad.
            """CREATE TABLE quarantine (
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                first_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                reason TEXT NOT NULL,
                received_at REAL NOT NULL,
                payload BLOB NOT NULL,
                PRIMARY KEY (agent_id, epoch, first_seq)
            )""",
        ),
    ),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"""


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute(_LEDGER)
    return {int(row[0]) for row in conn.execute("SELECT number FROM schema_migrations")}


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the pending migrations in order; return how many were applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the explicit
    BEGIN/COMMIT here are the only transaction boundaries.
    """
    done = applied(conn)
    count = 0
    for m in sorted(migrations, key=lambda m: m.number):
        if m.number in done:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in m.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (m.number, m.name, time.time()),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration {m.number} ({m.name}) failed: {exc}") from exc
        log.info("store migration %d (%s) applied", m.number, m.name)
        count += 1
    return count
