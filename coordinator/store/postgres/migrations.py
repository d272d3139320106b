"""The PostgreSQL store's schema, as numbered migrations (the same story as SQLite's).

Each migration runs in one transaction under an advisory lock, so replicas that start
together apply it once: the second waits, then finds it recorded. A database written by
a newer release (a number we do not know) is refused. Never edit a released migration:
append one.

Readings are **partitioned by time** (``ts``, one partition per UTC day, created on
demand by ``partitions``), so retention drops whole partitions instead of deleting rows.
A partitioned table's unique keys must contain the partition column, and
``(agent_id, epoch, seq, ts)`` would not be exact: a *different* reading sent under a
taken key (a conflict) with another ``ts`` would land in another partition and be
stored beside the first instead of being caught. So the dedupe key lives in its own
unpartitioned table, ``reading_keys`` (primary key ``(agent_id, epoch, seq)``), written
in the same statement as the reading: exact whatever the timestamps say. It also holds
the reading's ``ts`` (to find the row in its partition) and the ingest batch that stored
it (for the committed feed); a BRIN index on ``ts`` (nearly free to maintain: keys
arrive in time order) lets retention trim old keys by range.

Text columns that are compared or ordered use ``COLLATE "C"``: byte order, as SQLite
compares, so both stores page through readings in the same order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from edgewatch.coordinator.errors import StoreError

log = logging.getLogger(__name__)
# pg_advisory_xact_lock key of migrations (any constant shared by all replicas).
MIGRATION_LOCK = 0x65645F6D6967  # "ed_mig"


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "readings, keys, counters, agents, quarantine",
        (
            """CREATE TABLE readings (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                sensor_id TEXT COLLATE "C" NOT NULL,
                sensor_type TEXT NOT NULL,
                ts DOUBLE PRECISION NOT NULL,
                metrics TEXT NOT NULL,
                status TEXT,
                label INTEGER,
                score DOUBLE PRECISION,
                anomaly BOOLEAN NOT NULL,
                confidence DOUBLE PRECISION NOT NULL,
                scorer TEXT NOT NULL,
                stored_at DOUBLE PRECISION NOT NULL
            ) PARTITION BY RANGE (ts)""",
            # The API's time order (ties sorted incrementally), and the way from a key (with
            # its ts) to its row. ts alone: 8 bytes an entry, not ~40 with the key in it.
            "CREATE INDEX readings_ts ON readings (ts)",
            "CREATE INDEX readings_sensor_ts ON readings (sensor_id, ts)",
            """CREATE TABLE reading_keys (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                ts DOUBLE PRECISION NOT NULL,
                batch_id BIGINT NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            )""",
            "CREATE INDEX reading_keys_ts ON reading_keys USING brin (ts)",
            "CREATE SEQUENCE reading_batches",
            """CREATE TABLE counters (
                agent_id TEXT COLLATE "C" NOT NULL,
                name TEXT COLLATE "C" NOT NULL,
                value BIGINT NOT NULL,
                PRIMARY KEY (agent_id, name)
            )""",
            """CREATE TABLE agents (
                id TEXT COLLATE "C" PRIMARY KEY,
                tier TEXT,
                latitude DOUBLE PRECISION,
                longitude DOUBLE PRECISION,
                version TEXT,
                epoch BIGINT,
                first_seen DOUBLE PRECISION NOT NULL,
                last_seen DOUBLE PRECISION NOT NULL,
                heartbeat TEXT,
                heartbeat_at DOUBLE PRECISION,
                state TEXT NOT NULL,
                models TEXT NOT NULL DEFAULT '{}',
                capacity INTEGER,
                capabilities TEXT NOT NULL DEFAULT '[]'
            )""",
            """CREATE TABLE quarantine (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                first_seq BIGINT NOT NULL,
                last_seq BIGINT NOT NULL,
                reason TEXT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                payload BYTEA NOT NULL,
                PRIMARY KEY (agent_id, epoch, first_seq)
            )""",
            """CREATE TABLE conflicts (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 1,
                reading TEXT NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            )""",
            """CREATE TABLE refused_retained (
                digest TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                first_seen DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "feed, watermarks, sensors",
        (
            # Positions are handed out at the end of each ingest transaction under the
            # row lock of feed_head, so they grow in commit order across replicas: a
            # consumer never passes a position whose entry commits later.
            "CREATE TABLE feed_head (id INTEGER PRIMARY KEY CHECK (id = 1), position BIGINT)",
            "INSERT INTO feed_head VALUES (1, 0)",
            """CREATE TABLE ingest_feed (
                position BIGINT PRIMARY KEY,
                committed_at DOUBLE PRECISION NOT NULL,
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                first_seq BIGINT NOT NULL,
                last_seq BIGINT NOT NULL,
                stored INTEGER NOT NULL,
                anomalies INTEGER NOT NULL,
                batch_id BIGINT NOT NULL
            )""",
            """CREATE TABLE watermarks (
                consumer TEXT PRIMARY KEY,
                position BIGINT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE sensors (
                sensor_id TEXT COLLATE "C" PRIMARY KEY,
                sensor_type TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                first_ts DOUBLE PRECISION NOT NULL,
                last_ts DOUBLE PRECISION NOT NULL,
                last_stored_at DOUBLE PRECISION NOT NULL,
                readings BIGINT NOT NULL,
                anomalies BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "fleet plan",
        (
            """CREATE TABLE sensor_catalog (
                sensor_id TEXT COLLATE "C" PRIMARY KEY,
                sensor_type TEXT NOT NULL,
                latitude DOUBLE PRECISION,
                longitude DOUBLE PRECISION,
                required_tier TEXT NOT NULL,
                source TEXT NOT NULL,
                pinned_to TEXT,
                origin TEXT NOT NULL,
                registered_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE placements (
                sensor_id TEXT COLLATE "C" PRIMARY KEY,
                agent_id TEXT NOT NULL,
                since DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE desired_states (
                agent_id TEXT COLLATE "C" PRIMARY KEY,
                generation BIGINT NOT NULL,
                issued_at DOUBLE PRECISION NOT NULL,
                document BYTEA NOT NULL
            )""",
            """CREATE TABLE assignment_events (
                id BIGSERIAL PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL,
                sensor_id TEXT NOT NULL,
                from_agent TEXT,
                to_agent TEXT,
                reason TEXT NOT NULL
            )""",
            "CREATE TABLE fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        4,
        "aggregates",
        (
            # One row per window (scope, size, start); per-metric statistics as JSON
            # {name: [count, mean, m2, min, max]} (coordinator/aggregates/stats.py), as in
            # SQLite, so both stores share the converters.
            """CREATE TABLE aggregates (
                scope TEXT COLLATE "C" NOT NULL,
                window_s INTEGER NOT NULL,
                start BIGINT NOT NULL,
                count BIGINT NOT NULL,
                anomalies BIGINT NOT NULL,
                statuses TEXT NOT NULL,
                latency TEXT NOT NULL,
                metrics TEXT NOT NULL,
                revisions INTEGER NOT NULL DEFAULT 0,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                revised_at DOUBLE PRECISION,
                PRIMARY KEY (scope, window_s, start)
            )""",
            "CREATE INDEX aggregates_window_start ON aggregates (window_s, start)",
            "CREATE INDEX aggregates_start ON aggregates (start)",
            "CREATE INDEX aggregates_updated ON aggregates (window_s, updated_at)",
            # The feed entry of a key's batch: a rebuild leaves out readings of entries
            # past the watermark, and retention finds the oldest batch the feed still
            # lists (one row per entry, not per reading: nearly free at ingest).
            "CREATE INDEX ingest_feed_batch ON ingest_feed (batch_id)",
        ),
    ),
    Migration(
        5,
        "alerts",
        (
            """CREATE TABLE alerts (
                id BIGSERIAL PRIMARY KEY,
                key TEXT COLLATE "C" NOT NULL,
                rule TEXT COLLATE "C" NOT NULL,
                scope TEXT COLLATE "C" NOT NULL,
                severity TEXT COLLATE "C" NOT NULL,
                state TEXT COLLATE "C" NOT NULL,
                value DOUBLE PRECISION,
                message TEXT NOT NULL,
                raised_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                acknowledged_at DOUBLE PRECISION,
                acknowledged_by TEXT,
                cleared_at DOUBLE PRECISION,
                cleared_by TEXT,
                sources TEXT NOT NULL,
                silenced BOOLEAN NOT NULL DEFAULT false
            )""",
            # At most one alert per dedupe key that is not cleared, whichever replica
            # raises it: a second raise waits for the first and finds it (ON CONFLICT).
            "CREATE UNIQUE INDEX alerts_active_key ON alerts (key) WHERE state <> 'cleared'",
            "CREATE INDEX alerts_updated ON alerts (updated_at)",
            """CREATE TABLE alert_events (
                id BIGSERIAL PRIMARY KEY,
                alert_id BIGINT NOT NULL REFERENCES alerts (id),
                at DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                actor TEXT NOT NULL,
                value DOUBLE PRECISION,
                note TEXT NOT NULL
            )""",
            "CREATE INDEX alert_events_alert ON alert_events (alert_id)",
            """CREATE TABLE silences (
                id BIGSERIAL PRIMARY KEY,
                rule TEXT COLLATE "C",
                scope TEXT COLLATE "C",
                starts_at DOUBLE PRECISION NOT NULL,
                ends_at DOUBLE PRECISION NOT NULL,
                reason TEXT NOT NULL,
                created_by TEXT NOT NULL
            )""",
            # Alert events an agent raised on its own (its alert sequence), stored once.
            """CREATE TABLE edge_alert_events (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                payload BYTEA NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            )""",
        ),
    ),
    Migration(
        6,
        "enrollments, api tokens, audit log",
        (
            """CREATE TABLE enrollments (
                identity TEXT COLLATE "C" PRIMARY KEY,
                role TEXT NOT NULL,
                username TEXT NOT NULL,
                client_id TEXT NOT NULL,
                tier TEXT,
                latitude DOUBLE PRECISION,
                longitude DOUBLE PRECISION,
                enrolled_at DOUBLE PRECISION NOT NULL,
                enrolled_by TEXT NOT NULL,
                revoked_at DOUBLE PRECISION,
                revoked_by TEXT
            )""",
            # The token itself is never stored: its SHA-256 finds it (tokens are 256-bit
            # random, so a plain hash is as good as a slow one and costs nothing per call).
            """CREATE TABLE api_tokens (
                token_id TEXT COLLATE "C" PRIMARY KEY,
                digest TEXT COLLATE "C" NOT NULL UNIQUE,
                name TEXT NOT NULL,
                scope TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at DOUBLE PRECISION
            )""",
            # Ids are drawn and committed in one order (``security.add_audit``).
            """CREATE TABLE audit_log (
                id BIGSERIAL PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                source TEXT NOT NULL,
                outcome TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        7,
        "model registry, signing keys, rollouts, cloud verdicts",
        (
            # One row per trained model, its file included (BYTEA, TOASTed out of line:
            # listing models never reads the files). (sensor_type, version) is unique: a
            # version names one file fleet-wide, and of two replicas registering the same
            # one, the second is refused.
            """CREATE TABLE models (
                id BIGSERIAL PRIMARY KEY,
                sensor_type TEXT COLLATE "C" NOT NULL,
                tier TEXT NOT NULL,
                version BIGINT NOT NULL,
                sha256 TEXT NOT NULL,
                size BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                status_at DOUBLE PRECISION NOT NULL,
                training TEXT NOT NULL,
                evaluation TEXT NOT NULL,
                key_id TEXT NOT NULL,
                signature TEXT NOT NULL,
                data BYTEA NOT NULL,
                UNIQUE (sensor_type, version)
            )""",
            # Public keys only, oldest first (seq); the private key is a secret file.
            """CREATE TABLE signing_keys (
                key_id TEXT COLLATE "C" PRIMARY KEY,
                seq BIGINT NOT NULL UNIQUE,
                public_key TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                endorsed_by TEXT,
                endorsement TEXT
            )""",
            """CREATE TABLE rollouts (
                id BIGSERIAL PRIMARY KEY,
                model_id BIGINT NOT NULL,
                sensor_type TEXT COLLATE "C" NOT NULL,
                tier TEXT NOT NULL,
                state TEXT NOT NULL,
                canary_spec TEXT NOT NULL,
                canary TEXT NOT NULL,
                shadow BOOLEAN NOT NULL,
                baseline_model_id BIGINT,
                started_at DOUBLE PRECISION NOT NULL,
                soak_started_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                completed_at DOUBLE PRECISION,
                reason TEXT NOT NULL
            )""",
            """CREATE TABLE rollout_events (
                id BIGSERIAL PRIMARY KEY,
                rollout_id BIGINT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                reason TEXT NOT NULL,
                figures TEXT NOT NULL
            )""",
            # The cloud's verdict beside the edge's (the key of reading_keys: unpartitioned,
            # so a reading has one verdict whatever its ts says).
            """CREATE TABLE cloud_verdicts (
                agent_id TEXT COLLATE "C" NOT NULL,
                epoch BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                score DOUBLE PRECISION,
                anomaly BOOLEAN NOT NULL,
                scorer TEXT NOT NULL,
                why TEXT NOT NULL,
                rescored_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (agent_id, epoch, seq)
            )""",
            # Bucket first in the key: pruning and the window's sums are range scans.
            """CREATE TABLE verdict_buckets (
                bucket DOUBLE PRECISION NOT NULL,
                agent_id TEXT COLLATE "C" NOT NULL,
                sensor_type TEXT COLLATE "C" NOT NULL,
                scorer TEXT COLLATE "C" NOT NULL,
                readings BIGINT NOT NULL,
                anomalies BIGINT NOT NULL,
                rescored BIGINT NOT NULL,
                agreed BIGINT NOT NULL,
                cloud_anomalies BIGINT NOT NULL,
                r0 BIGINT NOT NULL, r1 BIGINT NOT NULL, r2 BIGINT NOT NULL,
                r3 BIGINT NOT NULL, r4 BIGINT NOT NULL, r5 BIGINT NOT NULL,
                r6 BIGINT NOT NULL, r7 BIGINT NOT NULL, r8 BIGINT NOT NULL,
                r9 BIGINT NOT NULL,
                PRIMARY KEY (bucket, agent_id, sensor_type, scorer)
            )""",
            """CREATE TABLE verdict_totals (
                agent_id TEXT COLLATE "C" NOT NULL,
                sensor_type TEXT COLLATE "C" NOT NULL,
                scorer TEXT COLLATE "C" NOT NULL,
                readings BIGINT NOT NULL,
                anomalies BIGINT NOT NULL,
                rescored BIGINT NOT NULL,
                agreed BIGINT NOT NULL,
                cloud_anomalies BIGINT NOT NULL,
                PRIMARY KEY (agent_id, sensor_type, scorer)
            )""",
        ),
    ),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"""


def _applied(conn: Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute(sa.text("SELECT number FROM schema_migrations"))}


def migrate(engine: Engine, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the pending ``migrations`` in order; how many were applied."""
    count = 0
    for m in sorted(migrations, key=lambda m: m.number):
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.execute(sa.text(_LEDGER))
            done = _applied(conn)
            newer = sorted(done - {x.number for x in migrations})
            if newer:
                raise StoreError(
                    f"coordinator store was written by a newer edgewatch (schema migrations "
                    f"{newer} unknown here); upgrade edgewatch instead of opening it"
                )
            if m.number in done:
                continue
            try:
                for statement in m.statements:
                    conn.execute(sa.text(statement))
            except sa.exc.SQLAlchemyError as exc:
                raise StoreError(f"migration {m.number} ({m.name}) failed: {exc}") from exc
            conn.execute(
                sa.text("INSERT INTO schema_migrations VALUES (:n, :name, :at)"),
                {"n": m.number, "name": m.name, "at": time.time()},
            )
        log.info("coordinator store migration %d (%s) applied", m.number, m.name)
        count += 1
    return count
