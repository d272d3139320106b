"""The ingest transaction on PostgreSQL: readings, conflicts, feed, refusals, counters, agents.

The same outcomes as ``store.sqlite.writes``, made the way PostgreSQL is fast: every
reading of the transaction goes to a session-local staging table in **one COPY**, then
**one statement** inserts the keys that are new (``ON CONFLICT DO NOTHING``) and the
readings behind exactly those keys, and reports per batch what it stored:

    WITH new AS (INSERT INTO reading_keys ... SELECT ... FROM stage ORDER BY key
                 ON CONFLICT DO NOTHING RETURNING key, batch_id)
    INSERT INTO readings SELECT ... FROM stage JOIN new USING (key, batch_id) ...

``ORDER BY`` the key does two jobs: the first batch of a transaction wins a key two of
its batches carry (as SQLite's batch-by-batch inserts do), and two replicas inserting
overlapping keys lock them in the same order, so they wait for each other instead of
deadlocking. Rows are locked in one global order across the whole transaction for the
same reason: keys, then agents and counters sorted, then the feed head last.

Feed positions are taken from ``feed_head`` at the very end, under its row lock, so
they grow in commit order across replicas (see ``migrations``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import Connection as PgConnection
from psycopg import Cursor

from edgewatch.coordinator.store.digest import digest_batch, digest_stored
from edgewatch.coordinator.store.records import NO_AGENT, BatchOutcome, Refusal, WriteSet
from edgewatch.coordinator.store.sqlite.rows import agent_row, batch_rows, reading_json
from edgewatch.shared.schemas import ResultBatch

STAGE_COLUMNS = (
    "agent_id, epoch, seq, sensor_id, sensor_type, ts, metrics, status, label, score, "
    "anomaly, confidence, scorer, stored_at, batch_id"
)
# Created once per connection (``store.postgres.engine``); emptied by every commit.
CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_readings ("
    'agent_id TEXT COLLATE "C", epoch BIGINT, seq BIGINT, sensor_id TEXT, sensor_type TEXT, '
    "ts DOUBLE PRECISION, metrics TEXT, status TEXT, label INTEGER, score DOUBLE PRECISION, "
    "anomaly BOOLEAN, confidence DOUBLE PRECISION, scorer TEXT, stored_at DOUBLE PRECISION, "
    "batch_id BIGINT) ON COMMIT DELETE ROWS"
)
_READING_COLUMNS = (
    "agent_id, epoch, seq, sensor_id, sensor_type, ts, metrics, status, label, score, "
    "anomaly, confidence, scorer, stored_at"
)
_INSERT = (
    "WITH new AS (INSERT INTO reading_keys (agent_id, epoch, seq, ts, batch_id) "
    "SELECT agent_id, epoch, seq, ts, batch_id FROM stage_readings "
    "ORDER BY agent_id, epoch, seq, batch_id ON CONFLICT DO NOTHING "
    "RETURNING agent_id, epoch, seq, batch_id), "
    f"ins AS (INSERT INTO readings ({_READING_COLUMNS}) SELECT "
    + ", ".join(f"s.{c.strip()}" for c in _READING_COLUMNS.split(","))
    + " FROM stage_readings s JOIN new USING (agent_id, epoch, seq, batch_id) "
    "RETURNING agent_id, epoch, seq, anomaly) "
    "SELECT new.batch_id, count(*), count(*) FILTER (WHERE ins.anomaly) "
    "FROM ins JOIN new USING (agent_id, epoch, seq) GROUP BY new.batch_id"
)
_EXISTING = (
    "SELECT k.seq, r.sensor_id, r.sensor_type, r.ts, r.metrics, r.status, r.label, r.score, "
    "r.anomaly, r.confidence, r.scorer FROM reading_keys k JOIN readings r ON r.ts = k.ts "
    "AND r.agent_id = k.agent_id AND r.epoch = k.epoch AND r.seq = k.seq "
    "WHERE k.agent_id = %s AND k.epoch = %s AND k.seq BETWEEN %s AND %s AND k.batch_id <> %s"
)
_HELD = (
    "SELECT 1 FROM readings WHERE sensor_id = %s AND ts = %s "
    "AND NOT (agent_id = %s AND epoch = %s) LIMIT 1"
)
_CONFLICT = (
    "INSERT INTO conflicts (agent_id, epoch, seq, received_at, reading) "
    "VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (agent_id, epoch, seq) DO UPDATE SET attempts = conflicts.attempts + 1"
)
_FEED = (
    "INSERT INTO ingest_feed (position, committed_at, agent_id, epoch, first_seq, last_seq, "
    "stored, anomalies, batch_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_QUARANTINE = (
    "INSERT INTO quarantine (agent_id, epoch, first_seq, last_seq, reason, received_at, "
    "payload) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (agent_id, epoch, first_seq) DO NOTHING"
)
_RETAINED = (
    "INSERT INTO refused_retained (digest, reason, first_seen) VALUES (%s, %s, %s) "
    "ON CONFLICT (digest) DO NOTHING"
)
_AGENT_COLUMNS = (
    "id, tier, latitude, longitude, version, epoch, first_seen, last_seen, heartbeat, "
    "heartbeat_at, state, models, capacity, capabilities"
)
# Every replica writes the agents it hears from (hellos and heartbeats reach them all):
# times only move forward, whoever writes last.
_UPSERT_AGENT = (
    f"INSERT INTO agents ({_AGENT_COLUMNS}) VALUES ({', '.join(['%s'] * 14)}) "
    "ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, latitude = excluded.latitude, "
    "longitude = excluded.longitude, version = excluded.version, epoch = excluded.epoch, "
    "first_seen = LEAST(agents.first_seen, excluded.first_seen), "
    "last_seen = GREATEST(agents.last_seen, excluded.last_seen), "
    "heartbeat = excluded.heartbeat, heartbeat_at = excluded.heartbeat_at, "
    "state = excluded.state, models = excluded.models, capacity = excluded.capacity, "
    "capabilities = excluded.capabilities"
)
_ADD_COUNTER = (
    "INSERT INTO counters (agent_id, name, value) VALUES (%s, %s, %s) "
    "ON CONFLICT (agent_id, name) DO UPDATE SET value = counters.value + excluded.value"
)

Deltas = Counter[tuple[str, str]]


class PgIngest:
    """One ``WriteSet`` applied on ``conn`` (inside the caller's transaction)."""

    def __init__(self, conn: PgConnection[Any], stored_at: float) -> None:
        self.conn = conn
        self.stored_at = stored_at
        self.deltas: Deltas = Counter()
        self.refusals_counted: list[bool] = []
        self.feed_position = 0
        self.batch_ids: list[int] = []

    def apply(self, work: WriteSet) -> list[BatchOutcome]:
        with self.conn.cursor() as cur:
            outcomes = self._batches(cur, work)
            for refusal in work.refusals:
                self.refusals_counted.append(self._refusal(cur, refusal))
            if work.agents:
                rows = sorted((agent_row(r) for r in work.agents), key=lambda r: str(r[0]))
                cur.executemany(_UPSERT_AGENT, rows)
            deltas = sorted((a, n, v) for (a, n), v in self.deltas.items() if v)
            if deltas:
                cur.executemany(_ADD_COUNTER, deltas)
            self._feed(cur, work.batches, outcomes)
        return outcomes

    # -- batches -------------------------------------------------------------------------

    def _batches(self, cur: Cursor[Any], work: WriteSet) -> list[BatchOutcome]:
        batches = list(work.batches)
        if not batches:
            return []
        cur.execute(
            "SELECT nextval('reading_batches') FROM generate_series(1, %s)", (len(batches),)
        )
        self.batch_ids = sorted(int(r[0]) for r in cur.fetchall())
        skipped = self._stage(cur, batches, work.handover_sensors)
        cur.execute(_INSERT)
        stored = {int(b): (int(n), int(a)) for b, n, a in cur.fetchall()}
        outcomes = []
        for batch, batch_id, skip in zip(batches, self.batch_ids, skipped, strict=True):
            n, anomalies = stored.get(batch_id, (0, 0))
            conflicts: tuple[int, ...] = ()
            if n < batch.size - skip:
                conflicts = self._conflicts(cur, batch, batch_id)
            outcome = BatchOutcome(
                stored=n,
                duplicates=batch.size - n - len(conflicts) - skip,
                conflicts=conflicts,
                anomalies=anomalies,
                handover_duplicates=skip,
            )
            agent = batch.agent_id
            self.deltas[(agent, "received")] += batch.size
            self.deltas[(agent, "stored")] += n
            self.deltas[(agent, "duplicates")] += outcome.duplicates
            self.deltas[(agent, "conflicts")] += len(conflicts)
            self.deltas[(agent, "handover_duplicates")] += skip
            self.deltas[(agent, "anomalies")] += anomalies
            outcomes.append(outcome)
        return outcomes

    def _stage(
        self, cur: Cursor[Any], batches: list[ResultBatch], handover: frozenset[str]
    ) -> list[int]:
        """COPY every reading to insert into the staging table; per batch, how many were
        left out as held already by a handover sensor's other owner.

        The handover probes run *before* the COPY: a connection in COPY mode takes no
        other statement (a probe inside it waited for itself for ever).
        """
        # (sensor_id, ts) -> (agent, epoch) of readings kept by earlier batches here.
        staged: dict[tuple[str, float], tuple[str, int]] = {}
        keeps: list[set[int] | None] = []
        for batch in batches:
            if handover and not handover.isdisjoint(batch.sensor_id):
                keeps.append(self._not_held(cur, batch, handover, staged))
            else:
                keeps.append(None)
        skipped: list[int] = []
        with cur.copy(f"COPY stage_readings ({STAGE_COLUMNS}) FROM STDIN") as copy:
            for batch, batch_id, keep in zip(batches, self.batch_ids, keeps, strict=True):
                rows = batch_rows(batch, self.stored_at, batch_id)
                skipped.append(0 if keep is None else batch.size - len(keep))
                for i, row in enumerate(rows):
                    if keep is None or i in keep:
                        copy.write_row(row)
        return skipped

    def _not_held(
        self,
        cur: Cursor[Any],
        batch: ResultBatch,
        handover: frozenset[str],
        staged: dict[tuple[str, float], tuple[str, int]],
    ) -> set[int]:
        keep = set(range(batch.size))
        me = (batch.agent_id, batch.epoch)
        for i, (sid, ts) in enumerate(zip(batch.sensor_id, batch.ts, strict=True)):
            if sid not in handover:
                continue
            other = staged.get((sid, ts))
            held = other is not None and other != me
            if not held:
                cur.execute(_HELD, (sid, ts, batch.agent_id, batch.epoch))
                held = cur.fetchone() is not None
            if held:
                keep.discard(i)
            else:
                staged.setdefault((sid, ts), me)
        return keep

    def _conflicts(self, cur: Cursor[Any], batch: ResultBatch, batch_id: int) -> tuple[int, ...]:
        """Seqs of ``batch`` the store holds with other content; those go to quarantine."""
        incoming = digest_batch(batch)
        cur.execute(
            _EXISTING, (batch.agent_id, batch.epoch, batch.first_seq, batch.last_seq, batch_id)
        )
        existing = cur.fetchall()
        stored = digest_stored([(*r[1:4], orjson.loads(r[4]), *r[5:]) for r in existing])
        found = [
            int(r[0])
            for r, d in zip(existing, stored, strict=True)
            if int(d) != int(incoming[r[0] - batch.first_seq])
        ]
        found.sort()
        if found:
            cur.executemany(
                _CONFLICT,
                [
                    (
                        batch.agent_id,
                        batch.epoch,
                        seq,
                        self.stored_at,
                        reading_json(batch, seq - batch.first_seq),
                    )
                    for seq in found
                ],
            )
        return tuple(found)

    # -- feed ----------------------------------------------------------------------------

    def _feed(
        self, cur: Cursor[Any], batches: Sequence[ResultBatch], outcomes: list[BatchOutcome]
    ) -> None:
        stored = [
            (b, i, o) for b, i, o in zip(batches, self.batch_ids, outcomes, strict=True) if o.stored
        ]
        if not stored:
            cur.execute("SELECT position FROM feed_head WHERE id = 1")
            row = cur.fetchone()
            self.feed_position = int(row[0]) if row else 0
            return
        cur.execute(
            "UPDATE feed_head SET position = position + %s WHERE id = 1 RETURNING position",
            (len(stored),),
        )
        row = cur.fetchone()
        end = int(row[0]) if row else len(stored)
        first = end - len(stored) + 1
        cur.executemany(
            _FEED,
            [
                (
                    first + n,
                    self.stored_at,
                    b.agent_id,
                    b.epoch,
                    b.first_seq,
                    b.last_seq,
                    o.stored,
                    o.anomalies,
                    batch_id,
                )
                for n, (b, batch_id, o) in enumerate(stored)
            ],
        )
        self.feed_position = end

    # -- refusals ------------------------------------------------------------------------

    def _refusal(self, cur: Cursor[Any], refusal: Refusal) -> bool:
        """Count (and quarantine) ``refusal``; False if it was counted before."""
        if refusal.retained_digest is not None:
            cur.execute(_RETAINED, (refusal.retained_digest, refusal.reason, self.stored_at))
            if cur.rowcount == 0:
                return False  # the broker handed us this retained message again
        agent = refusal.agent_id or NO_AGENT
        self.deltas[(agent, f"rejected:{refusal.reason}")] += 1
        self.deltas[(agent, "received")] += refusal.readings
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
        return True
