"""The PostgreSQL store: ``Store`` over a pool of connections, for one or many replicas.

Transactions run concurrently, from this process's threads (ingest, the feed consumers,
the fleet duty) and from other replicas, and meet only on the rows they share (keys,
counters, the feed head, sensors), always locked in one order (``writes``): no
process-wide lock, so a consumer's write never holds ingest up. Reads take a pooled
connection in autocommit (no BEGIN/ROLLBACK round trips) and never block a writer.

``synchronous_commit = on`` for every connection (``engine``): a returned ``write``
is durable, so the ack that follows it is honest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgewatch.coordinator.errors import StoreError
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store.postgres import engine as pg
from edgewatch.coordinator.store.postgres import feed, plan, queries
from edgewatch.coordinator.store.postgres.aggregates import PgAggregates
from edgewatch.coordinator.store.postgres.alerts import PgAlerts
from edgewatch.coordinator.store.postgres.migrations import migrate
from edgewatch.coordinator.store.postgres.models import PgModels
from edgewatch.coordinator.store.postgres.partitions import Partitions, day_of
from edgewatch.coordinator.store.postgres.security import PgSecurity
from edgewatch.coordinator.store.postgres.verdicts import PgVerdicts
from edgewatch.coordinator.store.postgres.writes import CREATE_STAGE, PgIngest
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
from edgewatch.shared.redact import redact
from edgewatch.shared.schemas import Result

log = logging.getLogger(__name__)
T = TypeVar("T")


class PostgresStore(PgModels, PgVerdicts, PgSecurity, PgAggregates, PgAlerts):
    """``Store`` on a PostgreSQL database (``postgresql://user@host:port/db``)."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = url
        self.where = redact(url)
        self._engine = pg.create(url, pool_size=pool_size)
        sa.event.listen(self._engine, "connect", _create_stage)
        try:
            migrate(self._engine)
            self.partitions = Partitions(self._engine)
        except (sa.exc.SQLAlchemyError, StoreError) as exc:
            self._engine.dispose()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(
                f"cannot open store {self.where}: {pg.translate(exc, 'connect')}"
            ) from exc
        self._reads = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    # -- write side -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str = "write") -> Iterator[Connection]:
        """One transaction; **any** exception rolls it back, then is translated."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except Exception as exc:
            raise pg.translate(exc, what) from exc

    def write(self, work: WriteSet) -> CommitResult:
        stored_at = time.time()
        days = {d for b in work.batches for d in range(day_of(min(b.ts)), day_of(max(b.ts)) + 1)}
        try:
            self.partitions.ensure(days)
        except Exception as exc:
            raise pg.translate(exc) from exc
        with self._transaction() as conn:
            raw = conn.connection.driver_connection
            tx = PgIngest(raw, stored_at)  # type: ignore[arg-type]
            outcomes = tx.apply(work)
        return CommitResult(
            outcomes=outcomes,
            stored_at=stored_at,
            feed_position=tx.feed_position,
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
        now = time.time()
        with self._transaction() as conn:
            # The watermark row first (locked by the claim): replicas meet there.
            if after is not None and not feed.claim(conn, consumer, after, position, now):
                return False
            feed.merge_sensor_activity(conn, updates)
            if after is None:
                feed.set_watermark(conn, consumer, position, now)
        return True

    def register_sensors(self, sensors: Sequence[CatalogSensor]) -> int:
        with self._transaction() as conn:
            return plan.register(conn, sensors)

    def pin_sensor(self, sensor_id: str, agent_id: str | None) -> bool:
        with self._transaction() as conn:
            return plan.pin(conn, sensor_id, agent_id)

    def commit_plan(
        self,
        placements: Mapping[str, Placement],
        desired: Sequence[StoredDesired],
        events: Sequence[AssignmentEvent],
    ) -> None:
        with self._transaction() as conn:
            plan.commit_plan(conn, placements, desired, events)

    def set_fleet_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            plan.set_fleet_meta(conn, key, value)

    def drop_readings_before(self, cutoff: float) -> list[str]:
        """Retention: drop the daily partitions wholly older than ``cutoff``."""
        try:
            return self.partitions.drop_before(cutoff)
        except Exception as exc:
            raise pg.translate(exc, "retention") from exc

    # -- read side ----------------------------------------------------------------------------

    def _read(self, query: Callable[[Connection], T]) -> T:
        try:
            with self._reads.connect() as conn:
                return query(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise pg.translate(exc, "read") from exc

    def catalog(self) -> list[CatalogSensor]:
        return self._read(plan.catalog)

    def catalog_sensor(self, sensor_id: str) -> CatalogSensor | None:
        return self._read(lambda c: plan.catalog_sensor(c, sensor_id))

    def placements(self) -> dict[str, Placement]:
        return self._read(plan.placements)

    def desired_states(self) -> dict[str, StoredDesired]:
        return self._read(plan.desired_states)

    def assignment_events(self, after: int, limit: int) -> list[AssignmentEvent]:
        return self._read(lambda c: plan.assignment_events(c, after, limit))

    def fleet_meta(self, key: str) -> str | None:
        return self._read(lambda c: plan.fleet_meta(c, key))

    def counters(self) -> CounterSnapshot:
        return self._read(queries.counters)

    def agents(self) -> list[AgentRecord]:
        return self._read(queries.agents)

    def agent(self, agent_id: str) -> AgentRecord | None:
        return self._read(lambda c: queries.agent(c, agent_id))

    def readings(self, query: ReadingQuery) -> list[Result]:
        return self._read(lambda c: queries.readings(c, query))

    def stamps(self, query: ReadingQuery) -> list[ReadingStamp]:
        return self._read(lambda c: queries.stamps(c, query))

    def feed_after(self, position: int, limit: int) -> list[FeedEntry]:
        return self._read(lambda c: feed.entries_after(c, position, limit))

    def feed_readings(self, entry: FeedEntry) -> list[Result]:
        return self._read(lambda c: feed.entry_readings(c, entry))

    def feed_sensor_summary(self, entries: Sequence[FeedEntry]) -> list[SensorActivity]:
        return self._read(lambda c: feed.sensor_summary(c, entries))

    def feed_head(self) -> int:
        return self._read(feed.head)

    def watermark(self, consumer: str) -> int:
        return self._read(lambda c: feed.watermark(c, consumer))

    def sensors(self) -> list[SensorActivity]:
        return self._read(feed.sensors)

    def sensor(self, sensor_id: str) -> SensorActivity | None:
        return self._read(lambda c: feed.sensor(c, sensor_id))

    def ping(self) -> bool:
        try:
            self._read(lambda c: c.execute(sa.text("SELECT 1 FROM schema_migrations LIMIT 1")))
        except StoreError:
            log.warning("store %s does not answer", self.where, exc_info=True)
            return False
        return True

    def close(self) -> None:
        self._engine.dispose()


def _create_stage(dbapi_conn: Any, record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute(CREATE_STAGE)
    dbapi_conn.commit()
