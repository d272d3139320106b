"""Numbered schema migrations for SQLite files, each applied in its own transaction.

Used by both SQLite files edgewatch keeps: the coordinator's store and the agent's outbox
(the only durable copy of unsent readings on a Pi, so its schema must be able to move
forward without losing a row). A migration is never edited once released: change the
schema by appending one. Applied numbers are recorded in ``schema_migrations``, so
opening a file is idempotent, and a file written by a *newer* release (a number we do not
know) is refused instead of being written with a schema we do not understand.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute(_LEDGER)
    return {int(row[0]) for row in conn.execute("SELECT number FROM schema_migrations")}


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    error: Callable[[str], Exception],
    what: str = "database",
) -> int:
    """Apply the pending ``migrations`` in order; return how many were applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the explicit
    BEGIN/COMMIT here are the only transaction boundaries. Failures raise ``error(msg)``.
    """
    done = applied(conn)
    known = {m.number for m in migrations}
    newer = sorted(done - known)
    if newer:
        raise error(
            f"{what} was written by a newer edgewatch (schema migrations {newer} unknown "
            "here); upgrade edgewatch instead of opening it with this version"
        )
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
            raise error(f"{what}: migration {m.number} ({m.name}) failed: {exc}") from exc
        log.info("%s migration %d (%s) applied", what, m.number, m.name)
        count += 1
    return count
