"""The outbox: the only durable copy of scored readings on the edge.

Every scored micro-batch is appended as one **chunk** (one row holding the encoded wire
batch and its sequence range) before anything is sent; a chunk leaves only when the
coordinator's ack covers it, or when the bound forces the oldest out (counted).

Why chunks and not one row per reading: the wire batch is encoded once, at append time,
and a resend is a plain read of the blob. Sequence numbers are still per reading
(``first_seq .. first_seq + n - 1``), so the ``(agent_id, epoch, seq)`` key the
coordinator deduplicates on is unaffected.

Durability: WAL with ``synchronous=FULL``, so every commit is on disk before the chunk
can be sent. ``NORMAL`` would be cheaper but a power cut could then roll back the last
commits *including* ``next_seq`` after their chunks were sent and stored; the restarted
agent would reuse those seq numbers and the coordinator would drop the new readings as
duplicates, a silent loss. With ``FULL`` a power cut costs only the readings not yet
committed (at most ``linger_ms`` / ``batch_max`` worth), and a process crash costs none.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.agent.errors import OutboxCorrupt, OutboxError, OutboxFull, OutboxMismatch
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.private_files import keep_private
from edgewatch.shared.sqlite_errors import SQLITE_IOERR, is_damage, is_full, primary_code
from edgewatch.shared.sqlite_migrations import Migration, migrate

log = logging.getLogger(__name__)

# The outbox's schema as numbered migrations (``shared.sqlite_migrations``). Migration 1
# is the schema of the first release with IF NOT EXISTS, so an outbox written by it (which
# has no migration ledger) is adopted as is, every unsent reading kept.
MIGRATIONS = (
    Migration(
        1,
        "chunks",
        (
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE IF NOT EXISTS chunks (
                first_seq INTEGER PRIMARY KEY,
                n         INTEGER NOT NULL CHECK (n > 0),
                created   REAL    NOT NULL,
                payload   BLOB    NOT NULL
            )""",
            "CREATE TABLE IF NOT EXISTS drops (reason TEXT PRIMARY KEY, readings INTEGER NOT NULL)",
        ),
    ),
    Migration(
        2,
        "conflicted",
        (
            # Chunks the coordinator said conflict with what it already stores under the
            # same (agent, epoch, seq): kept here, whole, for a person to look at.
            """CREATE TABLE conflicted (
                first_seq INTEGER PRIMARY KEY,
                n INTEGER NOT NULL,
                created REAL NOT NULL,
                conflicted_at REAL NOT NULL,
                ranges TEXT NOT NULL,
                readings INTEGER NOT NULL,
                payload BLOB NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "desired",
        (
            # The last desired state accepted from the coordinator, persisted before it
            # is applied: a rebooted agent without uplink resumes its assignment from it.
            """CREATE TABLE desired (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                generation INTEGER NOT NULL,
                received_at REAL NOT NULL,
                document BLOB NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "alert events",
        (
            # Alert events this agent's own rules raised (agent/alert_log.py): their own
            # sequence space, kept until the coordinator acks them.
            """CREATE TABLE alert_events (
                seq INTEGER PRIMARY KEY,
                created REAL NOT NULL,
                payload BLOB NOT NULL
            )""",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Chunk:
    first_seq: int
    n: int
    created: float
    payload: bytes

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.n - 1


@dataclass(frozen=True, slots=True)
class AckedChunk:
    """What an honoured ack says about one chunk (see ``Outbox.acknowledge``)."""

    first_seq: int
    n: int
    rejected: str | None = None
    conflicts: tuple[tuple[int, int], ...] = field(default=())

    @property
    def conflicted_readings(self) -> int:
        return sum(last - first + 1 for first, last in self.conflicts)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    rows: int
    bytes: int
    chunks: int
    oldest_created: float | None
    next_seq: int
    epoch: int
    dropped: dict[str, int]


class Outbox:
    """A bounded SQLite outbox for one agent. Not thread-safe: one worker owns it."""

    def __init__(
        self,
        path: Path,
        agent_id: str,
        *,
        max_rows: int,
        max_bytes: int,
        busy_timeout_s: float = 10.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.path = path
        self._clock = clock
        self.busy_timeout_s = busy_timeout_s
        self.agent_id = agent_id
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.recovered_from: Path | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except OutboxCorrupt as exc:
            self.recovered_from = self._move_aside(exc)
            self._db = self._open()
        self.epoch, self.next_seq, self.position = self._load_meta()
        self._rows, self._bytes, self._chunks = self._totals()
        self._dropped = dict(self._db.execute("SELECT reason, readings FROM drops").fetchall())
        row = self._db.execute("SELECT COALESCE(SUM(readings), 0) FROM conflicted").fetchone()
        self._conflicted = int(row[0])
        # Drops counted while the disk was full could not be written; they ride along
        # with the next transaction that succeeds, so the file's counters end up exact.
        self._unpersisted: dict[str, int] = {}

    # -- opening ----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # The only copy of unsent readings: the owner's, not every local user's.
        keep_private(self.path)
        try:
            # timeout first: a lock held by a previous process still exiting is waited
            # for, never mistaken for damage.
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_s,
            )
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                db.close()
                raise OutboxCorrupt(f"{self.path}: quick_check says {row!r}")
            migrate(db, MIGRATIONS, error=OutboxError, what=f"outbox {self.path}")
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise OutboxCorrupt(f"{self.path}: {exc}") from exc
            if is_full(exc):
                raise OutboxFull(str(exc)) from exc
            # Locked, read-only, out of descriptors...: not damage. Moving the file aside
            # would strand its readings; fail instead and let the supervisor retry.
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        return db

    def _move_aside(self, exc: OutboxCorrupt) -> Path:
        """Keep the damaged file for forensics and start a new outbox (a new epoch)."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(Path(str(target) + suffix))
        log.error(
            "outbox %s is corrupt (%s); moved aside to %s, starting a new epoch",
            self.path,
            exc,
            target,
        )
        return target

    def _load_meta(self) -> tuple[int, int, int]:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            # 52 random bits: unique per outbox file, and exact in JavaScript dashboards.
            epoch = secrets.randbits(52) | 1
            with self._tx():
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("agent_id", self.agent_id),
                        ("epoch", str(epoch)),
                        ("next_seq", "0"),
                        ("position", "0"),
                        ("created", repr(self._clock.time())),
                    ],
                )
            log.info("new outbox %s for %s, epoch %d", self.path, self.agent_id, epoch)
            return epoch, 0, 0
        if meta.get("agent_id") != self.agent_id:
            raise OutboxMismatch(
                f"{self.path} belongs to agent {meta.get('agent_id')!r}, not {self.agent_id!r}"
            )
        return int(meta["epoch"]), int(meta["next_seq"]), int(meta.get("position", "0"))

    def _totals(self) -> tuple[int, int, int]:
        row = self._db.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM chunks"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    @contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from exc
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._translate(exc) from exc
            raise

    @staticmethod
    def _translate(exc: sqlite3.DatabaseError) -> OutboxError:
        # By result code: SQLITE_FULL is a full disk (or file size limit). An I/O error
        # while writing on a full tmpfs also shows up as SQLITE_IOERR_WRITE and friends,
        # so every IOERR is treated as "full" too: the remedy (drop, report, retry) is the
        # same, and a real I/O failure is reported by the same condition.
        if is_full(exc) or primary_code(exc) == SQLITE_IOERR:
            return OutboxFull(str(exc))
        return OutboxError(str(exc))

    # -- writing ----------------------------------------------------------------------------

    def append(self, payload: bytes, n: int, position: int) -> int:
        """Store one encoded batch of ``n`` readings (``first_seq`` = the returned value).

        ``position`` is the source position after these readings: persisted in the same
        transaction, so a restarted agent resumes its source exactly where the outbox ends.
        Enforces the bound by dropping the oldest chunks (counted as ``bound``).
        Raises ``OutboxFull`` when the filesystem is full (nothing was written).
        """
        first = self.next_seq
        now = self._clock.time()
        with self._tx():
            self._db.execute(
                "INSERT INTO chunks (first_seq, n, created, payload) VALUES (?, ?, ?, ?)",
                (first, n, now, payload),
            )
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(first + n),))
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'position'", (str(position),))
            dropped = self._enforce_bound(len(payload) + self._bytes, n + self._rows)
            self._persist_drops()
        self._unpersisted.clear()
        self.next_seq = first + n
        self.position = position
        self._rows += n - dropped[0]
        self._bytes += len(payload) - dropped[1]
        self._chunks += 1 - dropped[2]
        if dropped[0]:
            self._dropped["bound"] = self._dropped.get("bound", 0) + dropped[0]
            log.warning("outbox bound reached: dropped the oldest %d readings", dropped[0])
        return first

    def _enforce_bound(self, total_bytes: int, total_rows: int) -> tuple[int, int, int]:
        """Delete oldest chunks until within bounds; returns (readings, bytes, chunks)."""
        if total_rows <= self.max_rows and total_bytes <= self.max_bytes:
            return 0, 0, 0
        rows = bytes_ = chunks = 0
        cursor = self._db.execute(
            "SELECT first_seq, n, LENGTH(payload) FROM chunks ORDER BY first_seq"
        )
        victims: list[int] = []
        for first_seq, n, size in cursor:
            if total_rows - rows <= self.max_rows and total_bytes - bytes_ <= self.max_bytes:
                break
            victims.append(first_seq)
            rows, bytes_, chunks = rows + n, bytes_ + size, chunks + 1
        self._db.executemany("DELETE FROM chunks WHERE first_seq = ?", [(v,) for v in victims])
        self._count_drop("bound", rows)
        return rows, bytes_, chunks

    def _count_drop(self, reason: str, readings: int) -> None:
        if readings:
            self._db.execute(
                "INSERT INTO drops (reason, readings) VALUES (?, ?) "
                "ON CONFLICT(reason) DO UPDATE SET readings = readings + excluded.readings",
                (reason, readings),
            )

    def acknowledge(self, acks: Sequence[AckedChunk]) -> int:
        """Remove the chunks ``acks`` name; returns the readings removed.

        Each ack must name a chunk exactly (``first_seq`` and ``n``, see ``agent.acks``):
        a range never deletes a chunk it does not match. A rejected chunk is removed too
        (the coordinator will never take it) and counted as ``rejected:<reason>``; a
        chunk with ``conflicts`` is moved to ``conflicted`` instead of being deleted.
        """
        removed = bytes_ = chunks = 0
        dropped: dict[str, int] = {}
        now = self._clock.time()
        with self._tx():
            for ack in acks:
                row = self._db.execute(
                    "DELETE FROM chunks WHERE first_seq = ? AND n = ? "
                    "RETURNING n, created, payload",
                    (ack.first_seq, ack.n),
                ).fetchone()
                if row is None:
                    continue  # gone already (an ack for a copy, or dropped by the bound)
                n, created, payload = int(row[0]), float(row[1]), bytes(row[2])
                removed, bytes_, chunks = removed + n, bytes_ + len(payload), chunks + 1
                if ack.conflicts:
                    self._keep_conflicted(ack, created, now, payload)
                if ack.rejected:
                    reason = f"rejected:{ack.rejected}"[:60]
                    self._count_drop(reason, n)
                    dropped[reason] = dropped.get(reason, 0) + n
        self._rows -= removed
        self._bytes -= bytes_
        self._chunks -= chunks
        for reason, n in dropped.items():
            self._dropped[reason] = self._dropped.get(reason, 0) + n
        self._conflicted += sum(a.conflicted_readings for a in acks if a.conflicts)
        return removed

    def _keep_conflicted(self, ack: AckedChunk, created: float, now: float, payload: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO conflicted (first_seq, n, created, conflicted_at, ranges,"
            " readings, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                ack.first_seq,
                ack.n,
                created,
                now,
                json.dumps([list(r) for r in ack.conflicts]),
                ack.conflicted_readings,
                payload,
            ),
        )
        log.error(
            "coordinator holds other readings under seqs %s of epoch %d: kept this agent's "
            "copies aside in %s (table conflicted)",
            ack.conflicts,
            self.epoch,
            self.path,
        )

    def save_desired(self, generation: int, document: bytes) -> None:
        """Persist an accepted desired state (only ever a newer generation replaces it)."""
        with self._tx():
            self._db.execute(
                "INSERT INTO desired (id, generation, received_at, document) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, "
                "received_at = excluded.received_at, document = excluded.document "
                "WHERE excluded.generation > desired.generation",
                (generation, self._clock.time(), document),
            )

    def desired(self) -> tuple[int, bytes] | None:
        """The persisted desired state: (generation, document), or None."""
        row = self._db.execute("SELECT generation, document FROM desired WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    @property
    def conflicted(self) -> int:
        """Readings the coordinator reported in conflict, kept aside (never deleted)."""
        return self._conflicted

    def _persist_drops(self) -> None:
        for reason, readings in self._unpersisted.items():
            self._count_drop(reason, readings)

    def count_drop(self, reason: str, readings: int) -> None:
        """Record readings dropped before they reached the outbox (e.g. ``disk_full``)."""
        self._dropped[reason] = self._dropped.get(reason, 0) + readings
        self._unpersisted[reason] = self._unpersisted.get(reason, 0) + readings
        try:
            with self._tx():
                self._persist_drops()
        except OutboxError:
            log.debug("could not persist drop counter %s", reason, exc_info=True)
            return
        self._unpersisted.clear()

    # -- reading ----------------------------------------------------------------------------

    def chunks(self, from_seq: int, below_seq: int | None = None, limit: int = 16) -> list[Chunk]:
        """Up to ``limit`` chunks with ``from_seq <= first_seq < below_seq``, oldest first."""
        upper = below_seq if below_seq is not None else 2**63 - 1
        rows = self._db.execute(
            "SELECT first_seq, n, created, payload FROM chunks "
            "WHERE first_seq >= ? AND first_seq < ? ORDER BY first_seq LIMIT ?",
            (from_seq, upper, limit),
        ).fetchall()
        return [Chunk(int(a), int(b), float(c), bytes(d)) for a, b, c, d in rows]

    def chunk(self, first_seq: int) -> Chunk | None:
        row = self._db.execute(
            "SELECT first_seq, n, created, payload FROM chunks WHERE first_seq = ?", (first_seq,)
        ).fetchone()
        return Chunk(int(row[0]), int(row[1]), float(row[2]), bytes(row[3])) if row else None

    def oldest_seq(self) -> int:
        row = self._db.execute("SELECT MIN(first_seq) FROM chunks").fetchone()
        return int(row[0]) if row and row[0] is not None else self.next_seq

    @property
    def rows(self) -> int:
        """Readings waiting, from the running total (no query)."""
        return self._rows

    def stats(self) -> OutboxStats:
        # created grows with seq, so the first chunk is the oldest: an O(1) lookup.
        row = self._db.execute("SELECT created FROM chunks ORDER BY first_seq LIMIT 1").fetchone()
        return OutboxStats(
            rows=self._rows,
            bytes=self._bytes,
            chunks=self._chunks,
            oldest_created=float(row[0]) if row and row[0] is not None else None,
            next_seq=self.next_seq,
            epoch=self.epoch,
            dropped=dict(self._dropped),
        )

    def integrity_ok(self) -> bool:
        row = self._db.execute("PRAGMA integrity_check").fetchone()
        return bool(row and row[0] == "ok")

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True, slots=True)
class OutboxState:
    """What an outbox file holds, read without opening it for writing."""

    agent_id: str
    epoch: int
    next_seq: int
    rows: int
    dropped: dict[str, int]
    conflicted: int


def read_state(path: Path) -> OutboxState | None:
    """The state of the outbox at ``path`` (read-only), or None if it does not exist yet
    or is being created. For tools watching an agent from outside (benchmarks, tests):
    they ask the outbox, never its tables."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute("SELECT COALESCE(SUM(n), 0) FROM chunks").fetchone()[0]
        dropped = dict(db.execute("SELECT reason, readings FROM drops").fetchall())
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conflicted = (
            db.execute("SELECT COALESCE(SUM(readings), 0) FROM conflicted").fetchone()[0]
            if "conflicted" in tables
            else 0
        )
    except sqlite3.Error:
        return None  # being created: ask again
    finally:
        db.close()
    if "epoch" not in meta:
        return None
    return OutboxState(
        agent_id=str(meta.get("agent_id", "")),
        epoch=int(meta["epoch"]),
        next_seq=int(meta.get("next_seq", 0)),
        rows=int(rows),
        dropped={str(k): int(v) for k, v in dropped.items()},
        conflicted=int(conflicted),
    )
