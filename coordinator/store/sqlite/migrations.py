"""The SQLite store's schema, as numbered migrations (``shared.sqlite_migrations``).

A migration is never edited once released: change the schema by appending one. The
``readings`` columns are a contract (the test ledger reads them).
"""

from __future__ import annotations

import sqlite3

from edgewatch.coordinator.errors import StoreError
from edgewatch.shared.sqlite_migrations import Migration
from edgewatch.shared.sqlite_migrations import migrate as _migrate

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
    Migration(
        5,
        "feed, conflicts, sensors, retained refusals",
        (
            # The committed feed: one entry per batch that stored new readings. Its id is
            # the position consumers keep as their watermark; the readings themselves are
            # found by the primary key range plus feed_id (no extra index on readings).
            """CREATE TABLE ingest_feed (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                committed_at REAL NOT NULL,
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                first_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                stored INTEGER NOT NULL,
                anomalies INTEGER NOT NULL
            )""",
            "ALTER TABLE readings ADD COLUMN feed_id INTEGER",
            """CREATE TABLE watermarks (
                consumer TEXT PRIMARY KEY,
                position INTEGER NOT NULL,
                updated_at REAL NOT NULL
            )""",
            # A reading whose key the store already held with different content: kept
            # here, whole, never over the stored one.
            """CREATE TABLE conflicts (
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                received_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 1,
                reading TEXT NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            )""",
            """CREATE TABLE sensors (
                sensor_id TEXT PRIMARY KEY,
                sensor_type TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                first_ts REAL NOT NULL,
                last_ts REAL NOT NULL,
                last_stored_at REAL NOT NULL,
                readings INTEGER NOT NULL,
                anomalies INTEGER NOT NULL
            )""",
            # Retained messages come back at every (re)subscription: a bad one is counted
            # once, the first time, and recognised by its digest afterwards.
            """CREATE TABLE refused_retained (
                digest TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                first_seen REAL NOT NULL
            )""",
        ),
    ),
    Migration(
        6,
        "fleet plan",
        (
            """CREATE TABLE sensor_catalog (
                sensor_id TEXT PRIMARY KEY,
                sensor_type TEXT NOT NULL,
                latitude REAL,
                longitude REAL,
                required_tier TEXT NOT NULL,
                source TEXT NOT NULL,
                pinned_to TEXT,
                origin TEXT NOT NULL,
                registered_at REAL NOT NULL
            )""",
            """CREATE TABLE placements (
                sensor_id TEXT PRIMARY KEY,
                agent_id TEXT NOT NULL,
                since REAL NOT NULL
            )""",
            """CREATE TABLE desired_states (
                agent_id TEXT PRIMARY KEY,
                generation INTEGER NOT NULL,
                issued_at REAL NOT NULL,
                document BLOB NOT NULL
            )""",
            """CREATE TABLE assignment_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                sensor_id TEXT NOT NULL,
                from_agent TEXT,
                to_agent TEXT,
                reason TEXT NOT NULL
            )""",
            "CREATE TABLE fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "ALTER TABLE agents ADD COLUMN capacity INTEGER",
            "ALTER TABLE agents ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]'",
        ),
    ),
    Migration(
        7,
        "aggregates",
        (
            # One row per window (scope, size, start); per-metric statistics as JSON
            # {name: [count, mean, m2, min, max]} (coordinator/aggregates/stats.py).
            """CREATE TABLE aggregates (
                scope TEXT NOT NULL,
                window_s INTEGER NOT NULL,
                start INTEGER NOT NULL,
                count INTEGER NOT NULL,
                anomalies INTEGER NOT NULL,
                statuses TEXT NOT NULL,
                latency TEXT NOT NULL,
                metrics TEXT NOT NULL,
                revisions INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                revised_at REAL,
                PRIMARY KEY (scope, window_s, start)
            ) WITHOUT ROWID""",
            "CREATE INDEX aggregates_window_start ON aggregates (window_s, start)",
            "CREATE INDEX aggregates_start ON aggregates (start)",
            "CREATE INDEX aggregates_updated ON aggregates (window_s, updated_at)",
        ),
    ),
    Migration(
        8,
        "alerts",
        (
            """CREATE TABLE alerts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL,
                rule TEXT NOT NULL,
                scope TEXT NOT NULL,
                severity TEXT NOT NULL,
                state TEXT NOT NULL,
                value REAL,
                message TEXT NOT NULL,
                raised_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                acknowledged_at REAL,
                acknowledged_by TEXT,
                cleared_at REAL,
                cleared_by TEXT,
                sources TEXT NOT NULL,
                silenced INTEGER NOT NULL DEFAULT 0
            )""",
            # At most one alert per dedupe key that is not cleared.
            "CREATE UNIQUE INDEX alerts_active_key ON alerts (key) WHERE state != 'cleared'",
            "CREATE INDEX alerts_updated ON alerts (updated_at)",
            """CREATE TABLE alert_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id INTEGER NOT NULL REFERENCES alerts (id),
                at REAL NOT NULL,
                kind TEXT NOT NULL,
                actor TEXT NOT NULL,
                value REAL,
                note TEXT NOT NULL
            )""",
            "CREATE INDEX alert_events_alert ON alert_events (alert_id)",
            """CREATE TABLE silences (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                rule TEXT,
                scope TEXT,
                starts_at REAL NOT NULL,
                ends_at REAL NOT NULL,
                reason TEXT NOT NULL,
                created_by TEXT NOT NULL
            )""",
            # Alert events an agent raised on its own (its alert sequence), stored once.
            """CREATE TABLE edge_alert_events (
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                received_at REAL NOT NULL,
                payload BLOB NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        9,
        "enrollments, api tokens, audit log",
        (
            """CREATE TABLE enrollments (
                identity TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                username TEXT NOT NULL,
                client_id TEXT NOT NULL,
                tier TEXT,
                latitude REAL,
                longitude REAL,
                enrolled_at REAL NOT NULL,
                enrolled_by TEXT NOT NULL,
                revoked_at REAL,
                revoked_by TEXT
            )""",
            # The token itself is never stored: its SHA-256 finds it (tokens are 256-bit
            # random, so a plain hash is as good as a slow one and costs nothing per call).
            """CREATE TABLE api_tokens (
                token_id TEXT PRIMARY KEY,
                digest TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                scope TEXT NOT NULL,
                created_at REAL NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at REAL
            )""",
            """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                source TEXT NOT NULL,
                outcome TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        10,
        "model registry, signing keys, rollouts, cloud verdicts",
        (
            # One row per trained model, its file included (a 100-tree model is ~200 KB).
            # (sensor_type, version) is unique: a version names one file fleet-wide.
            """CREATE TABLE models (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                sensor_type TEXT NOT NULL,
                tier TEXT NOT NULL,
                version INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                created_at REAL NOT NULL,
                status TEXT NOT NULL,
                status_at REAL NOT NULL,
                training TEXT NOT NULL,
                evaluation TEXT NOT NULL,
                key_id TEXT NOT NULL,
                signature TEXT NOT NULL,
                data BLOB NOT NULL,
                UNIQUE (sensor_type, version)
            )""",
            # Public keys only, oldest first (seq); the private key is a secret file.
            """CREATE TABLE signing_keys (
                key_id TEXT PRIMARY KEY,
                seq INTEGER NOT NULL UNIQUE,
                public_key TEXT NOT NULL,
                created_at REAL NOT NULL,
                endorsed_by TEXT,
                endorsement TEXT
            )""",
            """CREATE TABLE rollouts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                model_id INTEGER NOT NULL,
                sensor_type TEXT NOT NULL,
                tier TEXT NOT NULL,
                state TEXT NOT NULL,
                canary_spec TEXT NOT NULL,
                canary TEXT NOT NULL,
                shadow INTEGER NOT NULL,
                baseline_model_id INTEGER,
                started_at REAL NOT NULL,
                soak_started_at REAL,
                finished_at REAL,
                completed_at REAL,
                reason TEXT NOT NULL
            )""",
            """CREATE TABLE rollout_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                rollout_id INTEGER NOT NULL,
                at REAL NOT NULL,
                kind TEXT NOT NULL,
                reason TEXT NOT NULL,
                figures TEXT NOT NULL
            )""",
            # The cloud's verdict beside the edge's (same key as readings).
            """CREATE TABLE cloud_verdicts (
                agent_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                score REAL,
                anomaly INTEGER NOT NULL,
                scorer TEXT NOT NULL,
                why TEXT NOT NULL,
                rescored_at REAL NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE verdict_buckets (
                bucket REAL NOT NULL,
                agent_id TEXT NOT NULL,
                sensor_type TEXT NOT NULL,
                scorer TEXT NOT NULL,
                readings INTEGER NOT NULL,
                anomalies INTEGER NOT NULL,
                rescored INTEGER NOT NULL,
                agreed INTEGER NOT NULL,
                cloud_anomalies INTEGER NOT NULL,
                r0 INTEGER NOT NULL, r1 INTEGER NOT NULL, r2 INTEGER NOT NULL,
                r3 INTEGER NOT NULL, r4 INTEGER NOT NULL, r5 INTEGER NOT NULL,
                r6 INTEGER NOT NULL, r7 INTEGER NOT NULL, r8 INTEGER NOT NULL,
                r9 INTEGER NOT NULL,
                PRIMARY KEY (bucket, agent_id, sensor_type, scorer)
            ) WITHOUT ROWID""",
            """CREATE TABLE verdict_totals (
                agent_id TEXT NOT NULL,
                sensor_type TEXT NOT NULL,
                scorer TEXT NOT NULL,
                readings INTEGER NOT NULL,
                anomalies INTEGER NOT NULL,
                rescored INTEGER NOT NULL,
                agreed INTEGER NOT NULL,
                cloud_anomalies INTEGER NOT NULL,
                PRIMARY KEY (agent_id, sensor_type, scorer)
            ) WITHOUT ROWID""",
        ),
    ),
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store at ``conn`` to the current schema."""
    return _migrate(conn, MIGRATIONS, error=StoreError, what="coordinator store")
