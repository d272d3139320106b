"""The ingest transaction on SQLite: readings, conflicts, feed, refusals, counters, agents.

Called by ``SqliteStore.write`` inside ``BEGIN IMMEDIATE``; everything here runs on the
write connection's cursor and commits (or rolls back) together.

Dedupe: readings are inserted ``ON CONFLICT (agent_id, epoch, seq) DO NOTHING``. When a
batch stores fewer rows than it carries, the rows it did not store are compared **by
content** with what the store holds (``store.digest``): equal content is a duplicate (a
resend: acked, nothing to do), different content is a **conflict**: the incoming reading
is kept in ``conflicts`` and reported, never written over the stored one and never
silently acked as "already safe". The digests are computed only on this rare path, not
for every reading (that cost ~1 µs per reading on the hot path, see BENCHMARKS.md).
"""

from __future__ import annotations

import sqlite3
from collections import Counter

import orjson

from edgewatch.coordinator.store.digest import digest_batch, digest_stored
from edgewatch.coordinator.store.records import (
    NO_AGENT,
    BatchOutcome,
    Refusal,
    WriteSet,
)
from edgewatch.coordinator.store.sqlite.rows import (
    AGENT_COLUMNS,
    INSERT_COLUMNS,
    agent_row,
    batch_rows,
    reading_json,
)
from edgewatch.shared.schemas import ResultBatch

# ON CONFLICT on the key only: OR IGNORE would also swallow NOT NULL / CHECK violations
# and count them as duplicates, which the ack would then turn into a silent loss.
_INSERT_READING = (
    f"INSERT INTO readings ({INSERT_COLUMNS}) VALUES ({', '.join('?' * 15)}) "
    "ON CONFLICT (agent_id, epoch, seq) DO NOTHING"
)
_EXISTING = (
    "SELECT seq, sensor_id, sensor_type, ts, metrics, status, label, score, anomaly, "
    "confidence, scorer FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? AND ?"
    " AND (feed_id IS NULL OR feed_id != ?)"
)
_CONFLICT = (
    "INSERT INTO conflicts (agent_id, epoch, seq, received_at, reading) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (agent_id, epoch, seq) DO UPDATE SET attempts = attempts + 1"
)
_FEED = (
    "INSERT INTO ingest_feed (id, committed_at, agent_id, epoch, first_seq, last_seq, stored,"
    " anomalies) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_QUARANTINE = (
    "INSERT INTO quarantine (agent_id, epoch, first_seq, last_seq, reason, received_at, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, epoch, first_seq) DO NOTHING"
)
_RETAINED = (
    "INSERT INTO refused_retained (digest, reason, first_seen) VALUES (?, ?, ?) "
    "ON CONFLICT (digest) DO NOTHING"
)
_UPSERT_AGENT = f"INSERT OR REPLACE INTO agents ({AGENT_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_ADD_COUNTER = (
    "INSERT INTO counters (agent_id, name, value) VALUES (?, ?, ?) "
    "ON CONFLICT (agent_id, name) DO UPDATE SET value = value + excluded.value"
)

Deltas = Counter[tuple[str, str]]


class IngestTransaction:
    """One ``WriteSet`` applied on ``cur``; ``next_feed_id`` is the next feed position."""

    def __init__(self, cur: sqlite3.Cursor, stored_at: float, next_feed_id: int) -> None:
        self.cur = cur
        self.stored_at = stored_at
        self.next_feed_id = next_feed_id
        self.deltas: Deltas = Counter()
        self.refusals_counted: list[bool] = []
        self.handover: frozenset[str] = frozenset()

    def apply(self, work: WriteSet) -> list[BatchOutcome]:
        self.handover = work.handover_sensors
        outcomes = [self._batch(batch) for batch in work.batches]
        for refusal in work.refusals:
            self.refusals_counted.append(self._refusal(refusal))
        self.cur.executemany(_UPSERT_AGENT, [agent_row(r) for r in work.agents])
        self.cur.executemany(_ADD_COUNTER, [(a, n, v) for (a, n), v in self.deltas.items() if v])
        return outcomes

    # -- batches -------------------------------------------------------------------------

    def _batch(self, batch: ResultBatch) -> BatchOutcome:
        feed_id = self.next_feed_id
        rows = batch_rows(batch, self.stored_at, feed_id)
        skipped = 0
        if self.handover and not self.handover.isdisjoint(batch.sensor_id):
            keep = self._not_held(batch)
            skipped = batch.size - len(keep)
            rows = (row for i, row in enumerate(rows) if i in keep)
        self.cur.executemany(_INSERT_READING, rows)
        # executemany's rowcount sums the rows inserted; ignored keys add 0.
        stored = max(self.cur.rowcount, 0)
        conflicts: tuple[int, ...] = ()
        if stored < batch.size:
            conflicts = self._conflicts(batch, feed_id)
        anomalies = self._anomalies(batch, stored, feed_id)
        if stored:
            self.cur.execute(
                _FEED,
                (
                    feed_id,
                    self.stored_at,
                    batch.agent_id,
                    batch.epoch,
                    batch.first_seq,
                    batch.last_seq,
                    stored,
                    anomalies,
                ),
            )
            self.next_feed_id += 1
        outcome = BatchOutcome(
            stored=stored,
            duplicates=batch.size - stored - len(conflicts) - skipped,
            conflicts=conflicts,
            anomalies=anomalies,
            handover_duplicates=skipped,
        )
        agent = batch.agent_id
        self.deltas[(agent, "received")] += batch.size
        self.deltas[(agent, "stored")] += outcome.stored
        self.deltas[(agent, "duplicates")] += outcome.duplicates
        self.deltas[(agent, "conflicts")] += len(conflicts)
        self.deltas[(agent, "handover_duplicates")] += skipped
        self.deltas[(agent, "anomalies")] += anomalies
        return outcome

    def _not_held(self, batch: ResultBatch) -> set[int]:
        """Indices of ``batch`` to insert: all but the readings of handover sensors the
        store already holds by ``(sensor_id, ts)`` (from the sensor's other owner)."""
        keep = set(range(batch.size))
        for i, (sid, ts) in enumerate(zip(batch.sensor_id, batch.ts, strict=True)):
            if sid in self.handover:
                held = self.cur.execute(
                    "SELECT 1 FROM readings WHERE sensor_id = ? AND ts = ? "
                    "AND NOT (agent_id = ? AND epoch = ?) LIMIT 1",
                    (sid, ts, batch.agent_id, batch.epoch),
                ).fetchone()
                if held is not None:
                    keep.discard(i)
        return keep

    def _anomalies(self, batch: ResultBatch, stored: int, feed_id: int) -> int:
        """Anomalies among the rows this batch newly stored (resends store none)."""
        if stored == batch.size:
            return sum(batch.anomaly)
        if stored == 0:
            return 0
        row = self.cur.execute(
            "SELECT COUNT(*) FROM readings WHERE agent_id = ? AND epoch = ? AND seq BETWEEN ? "
            "AND ? AND anomaly = 1 AND feed_id = ?",
            (batch.agent_id, batch.epoch, batch.first_seq, batch.last_seq, feed_id),
        ).fetchone()
        return int(row[0])

    def _conflicts(self, batch: ResultBatch, feed_id: int) -> tuple[int, ...]:
        """Seqs of ``batch`` the store holds with other content; those go to quarantine."""
        incoming = digest_batch(batch)
        existing = self.cur.execute(
            _EXISTING, (batch.agent_id, batch.epoch, batch.first_seq, batch.last_seq, feed_id)
        ).fetchall()
        stored = digest_stored([(*r[1:4], orjson.loads(r[4]), *r[5:]) for r in existing])
        found = [
            int(r[0])
            for r, d in zip(existing, stored, strict=True)
            if int(d) != int(incoming[r[0] - batch.first_seq])
        ]
        if found:
            self.cur.executemany(
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
        return tuple(sorted(found))

    # -- refusals ------------------------------------------------------------------------

    def _refusal(self, refusal: Refusal) -> bool:
        """Count (and quarantine) ``refusal``; False if it was counted before."""
        if refusal.retained_digest is not None:
            self.cur.execute(_RETAINED, (refusal.retained_digest, refusal.reason, self.stored_at))
            if self.cur.rowcount == 0:
                # The broker handed us this retained message again: counted already.
                return False
        agent = refusal.agent_id or NO_AGENT
        self.deltas[(agent, f"rejected:{refusal.reason}")] += 1
        self.deltas[(agent, "received")] += refusal.readings
        if (q := refusal.kept) is not None:
            self.cur.execute(
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
