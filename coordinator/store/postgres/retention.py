"""Retention on PostgreSQL: old windows by size, raw readings by whole days.

The rules are SQLite's (``store.sqlite.aggregates.expire``): windows of a size go once
not updated for its retention; raw readings go once stored more than ``raw_s`` ago and
passed by every feed consumer, never the feed's newest entry (``feed_head`` reads the
feed's largest position). What differs is *how* readings go, because readings here are
partitioned by the day of their own ``ts`` (``partitions``) and deleting them row by
row is what the partitioning is there to avoid (``docs/scale-out.md``):

1. feed entries are deleted as SQLite deletes them (the same conditions, at most
   ``batch_entries`` per transaction), but their readings stay for now;
2. a day's readings go **whole**, once none of them belongs to an entry the feed still
   lists. Keys carry the batch that stored them, and entries their batch, so "the day
   has a key of a batch at least as new as the oldest batch the feed lists" is one
   probe of the day's keys (BRIN on ``ts``) against one index lookup (``MIN`` of
   ``ingest_feed.batch_id``): conservative (batch ids are taken before positions, so
   one may be kept a pass longer), never early.

So retention counts from when a reading was stored, as on SQLite, but at the grain of a
day: a day goes when its last stored reading is past ``raw_s`` and its entries are
consumed, and a late backlog that landed in an old day keeps that day until the backlog
itself expires. ``Expired.readings`` counts the readings of the days emptied.

The day is emptied by ``TRUNCATE``, not ``DROP``: other replicas keep the names of the
partitions they know (``Partitions``) and would fail to write a late reading into a
dropped one; an emptied partition takes it. Dropping whole days stays an operator's
decision (``PostgresStore.drop_readings_before``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.aggregates.records import Retention
from edgewatch.coordinator.store.postgres.engine import sqlstate
from edgewatch.coordinator.store.postgres.partitions import DAY_S, _days_of, partition_name

log = logging.getLogger(__name__)
LOCK_WAIT = "5s"
LOCK_NOT_AVAILABLE = "55P03"

# Larger than any batch id: "the feed lists no batch" keeps nothing back.
_NO_BATCH = 2**63 - 1
_ANY_ROW = "SELECT 1 FROM {} LIMIT 1"


def expire_windows(conn: Connection, now: float, policy: Retention) -> int:
    """Delete windows of each size not updated for its retention; how many."""
    gone = 0
    for size, keep in policy.windows.items():
        if keep is None:
            continue
        # Locked in key order first, as the consumer and a rebuild lock them: a window
        # updated by a late page at the same moment waits instead of deadlocking.
        result = conn.execute(
            sa.text(
                "DELETE FROM aggregates WHERE (scope, window_s, start) IN ("
                "SELECT scope, window_s, start FROM aggregates "
                "WHERE window_s = :w AND updated_at < :cut "
                "ORDER BY scope, window_s, start FOR UPDATE)"
            ),
            {"w": size, "cut": now - keep},
        )
        gone += max(result.rowcount, 0)
    return gone


def floor(conn: Connection, consumers: Sequence[str]) -> int:
    """The lowest watermark of ``consumers`` (0 if one never ran, or there are none)."""
    if not consumers:
        return 0
    rows = conn.execute(
        sa.text("SELECT consumer, position FROM watermarks WHERE consumer = ANY(:cs)"),
        {"cs": list(consumers)},
    )
    found = {c: int(p) for c, p in rows}
    return min(found.get(c, 0) for c in consumers)


def expire_entries(conn: Connection, cutoff: float, consumers: Sequence[str], limit: int) -> int:
    """Delete up to ``limit`` feed entries committed before ``cutoff`` that every consumer
    has passed, oldest first, never the newest; how many."""
    result = conn.execute(
        sa.text(
            "DELETE FROM ingest_feed WHERE position IN ("
            "SELECT position FROM ingest_feed WHERE committed_at < :cut AND position <= :floor "
            "AND position < (SELECT MAX(position) FROM ingest_feed) "
            "ORDER BY position LIMIT :n)"
        ),
        {"cut": cutoff, "floor": floor(conn, consumers), "n": limit},
    )
    return max(result.rowcount, 0)


def candidate_days(conn: Connection, cutoff: float) -> list[int]:
    """Days wholly before ``cutoff`` whose partition holds readings.

    A reading is stored after (or, within the clock skew ingest allows, about) its own
    ``ts``, so a later day holds readings stored since the cutoff: not worth a probe.
    """
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass"
        )
    )
    days = sorted(d for d in _days_of(r[0] for r in names) if (d + 1) * DAY_S <= cutoff)
    return [d for d in days if conn.execute(sa.text(_ANY_ROW.format(partition_name(d)))).first()]


def empty_day(conn: Connection, day: int) -> int:
    """Empty ``day``'s partition and delete its keys if none of its readings belongs to an
    entry the feed still lists; how many readings went (0: the day stays as it is)."""
    name = partition_name(day)
    # Taken first: a writer inserting into this day holds it (its keys are written in the
    # same statement), so the probe below runs after that writer committed and sees its
    # keys and its feed entry. A writer that comes after waits for this transaction.
    # Ingest queues behind a waiting lock too, so wait briefly: behind a long reader of
    # the day, give up (the day waits for the next pass) rather than hold ingest up.
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
    except sa.exc.OperationalError as exc:
        if sqlstate(exc) != LOCK_NOT_AVAILABLE:
            raise
        log.info("retention: %s is busy; trying again at the next pass", name)
        return 0
    bounds = {"lo": day * DAY_S, "hi": (day + 1) * DAY_S}
    kept = conn.execute(
        sa.text(
            "SELECT 1 FROM reading_keys WHERE ts >= :lo AND ts < :hi AND batch_id >= "
            "(SELECT COALESCE(MIN(batch_id), :none) FROM ingest_feed) LIMIT 1"
        ),
        {**bounds, "none": _NO_BATCH},
    ).first()
    if kept is not None:
        return 0
    # Without its keys, a resend of a reading that went would count as a duplicate of
    # nothing; with them gone it is stored again, as on SQLite (the key is the row).
    # The cloud's verdicts go with their readings (they are kept beside the key, not in
    # the partition), as SQLite's expire deletes them with the rows.
    gone = conn.execute(
        sa.text(
            "WITH gone AS (DELETE FROM reading_keys WHERE ts >= :lo AND ts < :hi "
            "RETURNING agent_id, epoch, seq), "
            "verdicts AS (DELETE FROM cloud_verdicts c USING gone g WHERE "
            "c.agent_id = g.agent_id AND c.epoch = g.epoch AND c.seq = g.seq) "
            "SELECT count(*) FROM gone"
        ),
        bounds,
    ).scalar_one()
    conn.execute(sa.text(f"TRUNCATE {name}"))
    return int(gone)
