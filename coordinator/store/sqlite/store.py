"""The SQLite store: one write connection (the ingest worker's), a fresh reader per query.

WAL lets the API read while ingest writes. ``synchronous=FULL``: the ack that follows a
commit tells the agent it may delete those readings, so the commit must survive a power
cut, not only a process crash (``NORMAL`` syncs the WAL only at checkpoints, and an OS
crash could undo commits that were already acked: a silent loss). The price is one
fsync per ingest transaction, which batches many MQTT messages.

Throughput under that guarantee: the writer keeps a 64 MiB page cache (a drain
transaction of 64 batches dirties ~9 MB of pages; SQLite's default 2 MB cache spilled
them to the WAL mid-transaction, writing pages twice), and WAL checkpoints run on a
thread of their own (``checkpoint``), not inside the ingest commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from edgewatch.coordinator.aggregates.compute import Columns, Contribution, WindowKey
from edgewatch.coordinator.aggregates.records import (
    AggregateQuery,
    Expired,
    Retention,
    WindowAggregate,
)
from edgewatch.coordinator.alerts.records import (
    Alert,
    AlertEvent,
    AlertQuery,
    Change,
    CriticalReading,
    EdgeReceipt,
    Silence,
    Transition,
)
from edgewatch.coordinator.errors import StoreError, StoreUnavailable, WriteRefused
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.records import (
    AssignmentEvent,
    CatalogSensor,
    CommitResult,
    CounterSnapshot,
    FeedEntry,
    Placement,
    ReadingQuery,
    ReadingStamp,
    SensorActivity,
    StoredDesired,
    WriteSet,
)
from edgewatch.coordinator.store.security_records import ApiToken, AuditEntry, Enrollment
from edgewatch.coordinator.store.sqlite import aggregates as agg
from edgewatch.coordinator.store.sqlite import alerts as alert_rows
from edgewatch.coordinator.store.sqlite import feed, plan, queries, security
from edgewatch.coordinator.store.sqlite.checkpoint import HARD_LIMIT_BYTES, Checkpointer
from edgewatch.coordinator.store.sqlite.migrations import migrate
from edgewatch.coordinator.store.sqlite.model_tables import ModelTables
from edgewatch.coordinator.store.sqlite.writes import IngestTransaction
from edgewatch.shared.private_files import keep_private
from edgewatch.shared.schemas import Result
from edgewatch.shared.sqlite_errors import is_database_failure

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 5000
WRITER_CACHE_KIB = 65536


def _connect(
    target: str, *, uri: bool = False, busy_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, uri=uri, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return conn


class SqliteStore(ModelTables):
    """``Store`` on one SQLite file. Writes are serialised by one lock (one connection)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Readings, token hashes and the audit log: not for every local user.
            keep_private(path)
            self._conn = _connect(str(path), busy_ms=busy_timeout_ms)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            migrate(self._conn)
            # Checkpoints are the checkpointer's (below), not the committing writer's.
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = Checkpointer(path, busy_ms=busy_timeout_ms)
            row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM ingest_feed").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        # The one writer hands out feed positions: monotonic, gaps allowed (a rolled
        # back transaction burns its numbers, which consumers never see).
        self._next_feed_id = int(row[0]) + 1
        self._lock = threading.Lock()
        self._reader_uri = path.resolve().as_uri() + "?mode=ro"
        # One read-only connection per thread, kept: opening one (and parsing the schema
        # at its first statement) cost more than many of the reads themselves, and the
        # feed consumers read once per committed batch (py-spy, bench recovery).
        self._readers: dict[int, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()
        self._closed = False

    # -- write side -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE ... COMMIT; **any** exception rolls back, then is translated.

        Rolling back on every exception, not only on ``sqlite3.Error``, is what keeps a
        poison message (an integer SQLite cannot hold, a value orjson cannot encode) from
        leaving the connection inside a transaction that every later write then trips on.
        """
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
                self._after_commit()
            except BaseException as exc:
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        log.exception("rollback failed on %s", self.path)
                if isinstance(exc, Exception) and not isinstance(exc, StoreError):
                    raise _translate(exc) from exc
                raise
            finally:
                cur.close()

    def _after_commit(self) -> None:
        if self._checkpointer.wal_bytes() > HARD_LIMIT_BYTES:
            # The checkpointer fell behind: bound the WAL here, as autocheckpoint did.
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        else:
            self._checkpointer.nudge()

    def write(self, work: WriteSet) -> CommitResult:
        stored_at = time.time()
        with self._transaction() as cur:
            tx = IngestTransaction(cur, stored_at, self._next_feed_id)
            try:
                outcomes = tx.apply(work)
            finally:
                # Positions used inside a rolled-back transaction are not handed out again.
                self._next_feed_id = tx.next_feed_id
        return CommitResult(
            outcomes=outcomes,
            stored_at=stored_at,
            feed_position=tx.next_feed_id - 1,
            refusals_counted=tuple(tx.refusals_counted),
        )

    def apply_sensor_activity(
        self,
        updates: Sequence[SensorActivity],
        consumer: str,
        position: int,
        *,
        after: int | None = None,
    ) -> bool:
        with self._transaction() as cur:
            if after is not None and feed.watermark_of(cur, consumer) != after:
                return False
            feed.merge_sensor_activity(cur, updates)
            feed.set_watermark(cur, consumer, position, time.time())
        return True

    def register_sensors(self, sensors: Sequence[CatalogSensor]) -> int:
        with self._transaction() as cur:
            return plan.register(cur, sensors)

    def pin_sensor(self, sensor_id: str, agent_id: str | None) -> bool:
        with self._transaction() as cur:
            return plan.pin(cur, sensor_id, agent_id)

    def commit_plan(
        self,
        placements: Mapping[str, Placement],
        desired: Sequence[StoredDesired],
        events: Sequence[AssignmentEvent],
    ) -> None:
        with self._transaction() as cur:
            plan.commit_plan(cur, placements, desired, events)

    def set_fleet_meta(self, key: str, value: str) -> None:
        with self._transaction() as cur:
            plan.set_fleet_meta(cur, key, value)

    def enroll(self, record: Enrollment) -> bool:
        with self._transaction() as cur:
            return security.enroll(cur, record)

    def revoke_enrollment(self, identity: str, at: float, by: str) -> bool:
        with self._transaction() as cur:
            return security.revoke_enrollment(cur, identity, at, by)

    def add_token(self, token: ApiToken, digest: str) -> None:
        with self._transaction() as cur:
            security.add_token(cur, token, digest)

    def revoke_token(self, token_id: str, at: float) -> bool:
        with self._transaction() as cur:
            return security.revoke_token(cur, token_id, at)

    def add_audit(self, entry: AuditEntry) -> int:
        with self._transaction() as cur:
            return security.add_audit(cur, entry)

    # -- read side (API, consumers: any thread) ----------------------------------------------

    def enrollment(self, identity: str) -> Enrollment | None:
        with self._reader() as conn:
            return security.enrollment(conn, identity)

    def enrollments(self) -> list[Enrollment]:
        with self._reader() as conn:
            return security.enrollments(conn)

    def token_by_digest(self, digest: str) -> ApiToken | None:
        with self._reader() as conn:
            return security.token_by_digest(conn, digest)

    def tokens(self) -> list[ApiToken]:
        with self._reader() as conn:
            return security.tokens(conn)

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        with self._reader() as conn:
            return security.audit_entries(conn, after, limit)

    def catalog(self) -> list[CatalogSensor]:
        with self._reader() as conn:
            return plan.catalog(conn)

    def catalog_sensor(self, sensor_id: str) -> CatalogSensor | None:
        with self._reader() as conn:
            return plan.catalog_sensor(conn, sensor_id)

    def placements(self) -> dict[str, Placement]:
        with self._reader() as conn:
            return plan.placements(conn)

    def desired_states(self) -> dict[str, StoredDesired]:
        with self._reader() as conn:
            return plan.desired_states(conn)

    def assignment_events(self, after: int, limit: int) -> list[AssignmentEvent]:
        with self._reader() as conn:
            return plan.assignment_events(conn, after, limit)

    def fleet_meta(self, key: str) -> str | None:
        with self._reader() as conn:
            return plan.fleet_meta(conn, key)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """This thread's read-only connection (autocommit: each statement sees the latest
        commit); one that failed is closed and the next read opens another."""
        key = threading.get_ident()
        conn = self._readers.get(key)
        if conn is None:
            try:
                conn = _connect(self._reader_uri, uri=True)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot read store {self.path}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            with self._readers_lock:
                if self._closed:  # a read racing close(): no connection may outlive it
                    conn.close()
                    raise StoreUnavailable(f"store {self.path} is closed")
                self._readers[key] = conn
        try:
            yield conn
        except sqlite3.Error as exc:
            with self._readers_lock:
                self._readers.pop(key, None)
            conn.close()
            raise StoreUnavailable(f"read failed: {exc}") from exc

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

    def stamps(self, query: ReadingQuery) -> list[ReadingStamp]:
        with self._reader() as conn:
            return queries.stamps(conn, query)

    def feed_after(self, position: int, limit: int) -> list[FeedEntry]:
        with self._reader() as conn:
            return feed.entries_after(conn, position, limit)

    def feed_readings(self, entry: FeedEntry) -> list[Result]:
        with self._reader() as conn:
            return feed.entry_readings(conn, entry)

    def feed_sensor_summary(self, entries: Sequence[FeedEntry]) -> list[SensorActivity]:
        with self._reader() as conn:
            return feed.sensor_summary(conn, entries)

    def feed_head(self) -> int:
        with self._reader() as conn:
            return feed.head(conn)

    def watermark(self, consumer: str) -> int:
        with self._reader() as conn:
            return feed.watermark(conn, consumer)

    def sensors(self) -> list[SensorActivity]:
        with self._reader() as conn:
            return feed.sensors(conn)

    def sensor(self, sensor_id: str) -> SensorActivity | None:
        with self._reader() as conn:
            return feed.sensor(conn, sensor_id)

    # -- aggregates (coordinator.aggregates) ------------------------------------------------

    def feed_columns(self, entries: Sequence[FeedEntry]) -> Columns:
        with self._reader() as conn:
            return agg.feed_columns(conn, entries)

    def apply_aggregates(
        self, updates: Mapping[WindowKey, Contribution], consumer: str, after: int, position: int
    ) -> bool:
        now = time.time()
        with self._transaction() as cur:
            if feed.watermark_of(cur, consumer) != after:
                return False
            agg.merge_windows(cur, updates, now)
            feed.set_watermark(cur, consumer, position, now)
        return True

    def rebuild_aggregates(
        self,
        since: int,
        until: int,
        compute: Callable[[Columns], Mapping[WindowKey, Contribution]],
        consumer: str,
    ) -> int:
        # The write lock is held while the span is recomputed: the consumer cannot move in
        # between, so the span holds exactly the readings up to its watermark.
        with self._transaction() as cur:
            conn = cur.connection
            position = feed.watermark_of(cur, consumer)
            cols = agg.span_columns(conn, since, until, position)
            agg.replace_span(cur, since, until, compute(cols), time.time())
        return len(cols)

    def aggregates(self, query: AggregateQuery) -> list[WindowAggregate]:
        with self._reader() as conn:
            return agg.windows(conn, query)

    def expire(self, now: float, policy: Retention, consumers: Sequence[str]) -> Expired:
        with self._transaction() as cur:
            floor = min((feed.watermark_of(cur, c) for c in consumers), default=0)
            return agg.expire(cur, now, policy, floor)

    # -- alerts (coordinator.alerts) --------------------------------------------------------

    def apply_alert_changes(
        self,
        changes: Sequence[Change],
        consumer: str | None = None,
        position: int | None = None,
    ) -> list[Transition]:
        with self._transaction() as cur:
            done = [t for c in changes if (t := alert_rows.apply_change(cur, c)) is not None]
            if consumer is not None and position is not None:
                feed.set_watermark(cur, consumer, position, time.time())
        return done

    def apply_edge_alerts(
        self,
        receipts: Sequence[EdgeReceipt],
        to_changes: Callable[[Sequence[EdgeReceipt]], Sequence[Change]],
    ) -> list[Transition]:
        with self._transaction() as cur:
            new = alert_rows.receive_edge(cur, receipts)
            changes = to_changes(new) if new else ()
            return [t for c in changes if (t := alert_rows.apply_change(cur, c)) is not None]

    def feed_critical(
        self, entries: Sequence[FeedEntry], min_confidence: float
    ) -> list[CriticalReading]:
        with self._reader() as conn:
            return alert_rows.feed_critical(conn, entries, min_confidence)

    def alerts(self, query: AlertQuery) -> list[Alert]:
        with self._reader() as conn:
            return alert_rows.alerts(conn, query)

    def alert(self, alert_id: int) -> Alert | None:
        with self._reader() as conn:
            return alert_rows.alert(conn, alert_id)

    def alert_history(self, alert_id: int) -> list[AlertEvent]:
        with self._reader() as conn:
            return alert_rows.history(conn, alert_id)

    def add_silence(self, silence: Silence) -> Silence:
        with self._transaction() as cur:
            return alert_rows.add_silence(cur, silence)

    def end_silence(self, silence_id: int, at: float) -> bool:
        with self._transaction() as cur:
            return alert_rows.end_silence(cur, silence_id, at)

    def silences(self, active_at: float | None = None) -> list[Silence]:
        with self._reader() as conn:
            return alert_rows.silences(conn, active_at)

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
            self._checkpointer.close()
            self._conn.close()
        with self._readers_lock:
            self._closed = True
            readers, self._readers = list(self._readers.values()), {}
        for conn in readers:
            conn.close()


def _translate(exc: Exception) -> StoreError:
    """The database failed (retry later) or this content cannot be written (isolate it)."""
    if isinstance(exc, sqlite3.Error) and is_database_failure(exc):
        return StoreUnavailable(f"write failed: {exc}")
    return WriteRefused(f"write refused: {type(exc).__name__}: {exc}"[:300])
