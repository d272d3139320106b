"""The SQLite store: one write connection (the ingest worker's), a fresh reader per query.

WAL lets the API read while ingest writes. ``synchronous=FULL``: the ack that follows a
commit tells the agent it may delete those readings, so the commit must survive a power
cut, not only a process crash (``NORMAL`` syncs the WAL only at checkpoints, and an OS
crash could undo commits that were already acked: a silent loss). The price is one
fsync per ingest transaction, which batches many MQTT messages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.base import (
    NO_AGENT,
    BatchOutcome,
    CommitResult,
    CounterSnapshot,
    ReadingQuery,
    WriteSet,
)
from edgewatch.coordinator.store.sqlite import queries
from edgewatch.coordinator.store.sqlite.migrations import migrate
from edgewatch.coordinator.store.sqlite.rows import (
    AGENT_COLUMNS,
    READING_COLUMNS,
    agent_row,
    batch_rows,
)
from edgewatch.shared.schemas import Result, ResultBatch

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 5000

# ON CONFLICT on the key only: OR IGNORE would also swallow NOT NULL / CHECK violations
# and count them as duplicates, which the ack would then turn into a silent loss.
_INSERT_READING = (
    f"INSERT INTO readings ({READING_COLUMNS}) VALUES ({', '.join('?' * 14)}) "
    "ON CONFLICT (agent_id, epoch, seq) DO NOTHING"
)
_QUARANTINE = (
    "INSERT INTO quarantine (agent_id, epoch, first_seq, last_seq, reason, received_at, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, epoch, first_seq) DO NOTHING"
)
_UPSERT_AGENT = f"INSERT OR REPLACE INTO agents ({AGENT_COLUMNS}) VALUES ({', '.join('?' * 12)})"
_ADD_COUNTER = (
    "INSERT INTO counters (agent_id, name, value) VALUES (?, ?, ?) "
    "ON CONFLICT (agent_id, name) DO UPDATE SET value = value + excluded.value"
)


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, uri=uri, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


class SqliteStore:
    """``Store`` on one SQLite file. ``write`` must be called from one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(str(path))
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            migrate(self._conn)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._reader_uri = path.resolve().as_uri() + "?mode=ro"

    # -- write side (ingest worker) --------------------------------------------------------

    def write(self, work: WriteSet) -> CommitResult:
        stored_at = time.time()
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                outcomes, deltas = self._insert_batches(cur, work, stored_at)
                for refusal in work.refusals:
                    agent = refusal.agent_id or NO_AGENT
                    deltas[(agent, f"rejected:{refusal.reason}")] += 1
                    deltas[(agent, "received")] += refusal.readings
                    if (q := refusal.kept) is not None:
                        cur.execute(
                            _QUARANTINE,
                            (
                                q.agent_id,
                                q.epoch,
                                q.first_seq,
                                q.last_seq,
                                refusal.reason,
                                q.received_at,
                                q.payload,
                            ),
                        )
                cur.executemany(_UPSERT_AGENT, [agent_row(r) for r in work.agents])
                cur.executemany(_ADD_COUNTER, [(a, n, v) for (a, n), v in deltas.items() if v])
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"write failed: {exc}") from exc
            finally:
                cur.close()
        return CommitResult(outcomes=outcomes, stored_at=stored_at)

    @staticmethod
    def _insert_batches(
        cur: sqlite3.Cursor, work: WriteSet, stored_at: float
    ) -> tuple[list[BatchOutcome], Counter[tuple[str, str]]]:
        outcomes: list[BatchOutcome] = []
        deltas: Counter[tuple[str, str]] = Counter()
        for batch in work.batches:
            cur.executemany(_INSERT_READING, batch_rows(batch, stored_at))
            # executemany's rowcount sums the rows inserted; ignored duplicates add 0.
            stored = max(cur.rowcount, 0)
            outcome = BatchOutcome(stored=stored, duplicates=batch.size - stored)
            outcomes.append(outcome)
            deltas[(batch.agent_id, "received")] += batch.size
            deltas[(batch.agent_id, "stored")] += outcome.stored
            deltas[(batch.agent_id, "duplicates")] += outcome.duplicates
            deltas[(batch.agent_id, "anomalies")] += _anomalies_stored(
                cur, batch, stored, stored_at
            )
        return outcomes, deltas

    # -- read side (API, any thread) -------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = _connect(self._reader_uri, uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"read failed: {exc}") from exc
        finally:
            conn.close()

    def counters(self) -> CounterSnapshot:
        with self._reader() as conn:
            return queries.counters(conn)

    def agents(self) -> list[AgentRecord]:
        with self._reader() as conn:
            return queries.agents(conn)

    def agent(self, agent_id: str) -> AgentRecord | None:
        with self._reader() as conn:
            return queries.agent(conn, agent_id)

    def readings(self, query: ReadingQuery) -> list[Result]:
        with self._reader() as conn:
            return queries.readings(conn, query)

    def ping(self) -> bool:
        try:
            with self._reader() as conn:
                conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
        except StoreError:
            log.warning("store %s does not answer", self.path, exc_info=True)
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _anomalies_stored(
    cur: sqlite3.Cursor, batch: ResultBatch, stored: int, stored_at: float
) -> int:
    """Anomalies among the rows this batch newly stored (resends store none)."""
    if stored == batch.size:
        return sum(batch.anomaly)
    if stored == 0:
        return 0
    # Partly new: ask the store which of the new rows (this transaction's stamp) flag one.
    row = cur.execute(
        "SELECT COUNT(*) FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ?"
        " AND anomaly = 1 AND stored_at = ?",
        (batch.agent_id, batch.epoch, batch.first_seq, batch.last_seq, stored_at),
    ).fetchone()
    return int(row[0])
