"""``ModelStore`` and ``VerdictStore`` on SQLite: mixed into ``SqliteStore``, which
provides the write transaction (one lock, one connection) and the readers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

from edgewatch.coordinator.errors import StoreUnavailable
from edgewatch.coordinator.store.model_records import (
    CloudVerdict,
    ModelRecord,
    ModelStatus,
    NewModel,
    Rollout,
    RolloutEvent,
    ScoredRows,
    SigningKeyRecord,
    TrainingQuery,
    TrainingRows,
    VerdictCounts,
)
from edgewatch.coordinator.store.records import FeedEntry
from edgewatch.coordinator.store.sqlite import feed
from edgewatch.coordinator.store.sqlite import models as model_sql
from edgewatch.coordinator.store.sqlite import verdicts as verdict_sql


class ModelTables:
    def _transaction(self) -> AbstractContextManager[sqlite3.Cursor]:
        raise NotImplementedError

    def _reader(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def add_model(self, model: NewModel) -> ModelRecord:
        with self._transaction() as cur:
            model_id = model_sql.add_model(cur, model)
        found = self.model(model_id)
        if found is None:  # pragma: no cover - just committed
            raise StoreUnavailable(f"model {model_id} vanished after commit")
        return found

    def delete_candidates(self, model_ids: Sequence[int]) -> None:
        with self._transaction() as cur:
            model_sql.delete_models(cur, model_ids)

    def resign_models(self, signatures: Mapping[int, tuple[str, str]]) -> None:
        with self._transaction() as cur:
            model_sql.resign(cur, signatures)

    def add_signing_key(self, key: SigningKeyRecord) -> None:
        with self._transaction() as cur:
            model_sql.add_signing_key(cur, key)

    def commit_rollout(
        self,
        rollout: Rollout,
        statuses: Mapping[int, ModelStatus],
        events: Sequence[RolloutEvent],
    ) -> Rollout:
        at = max([e.at for e in events], default=time.time())
        with self._transaction() as cur:
            rollout_id = model_sql.save_rollout(cur, rollout)
            model_sql.set_statuses(cur, statuses, at)
            model_sql.add_events(cur, rollout_id, events)
        return replace(rollout, id=rollout_id)

    def apply_rescoring(
        self,
        verdicts: Sequence[CloudVerdict],
        counts: Sequence[VerdictCounts],
        consumer: str,
        position: int,
        prune_before: float,
        *,
        after: int | None = None,
    ) -> bool:
        with self._transaction() as cur:
            if after is not None and feed.watermark_of(cur, consumer) != after:
                return False
            verdict_sql.add_cloud_verdicts(cur, verdicts)
            verdict_sql.add_counts(cur, counts)
            verdict_sql.prune_buckets(cur, prune_before)
            feed.set_watermark(cur, consumer, position, time.time())
        return True

    def models(self, sensor_type: str | None = None) -> list[ModelRecord]:
        with self._reader() as conn:
            return model_sql.models(conn, sensor_type)

    def model(self, model_id: int) -> ModelRecord | None:
        with self._reader() as conn:
            return model_sql.model(conn, model_id)

    def model_file(self, model_id: int) -> bytes | None:
        with self._reader() as conn:
            return model_sql.model_file(conn, model_id)

    def latest_model_version(self, sensor_type: str) -> int:
        with self._reader() as conn:
            return model_sql.latest_version(conn, sensor_type)

    def signing_keys(self) -> list[SigningKeyRecord]:
        with self._reader() as conn:
            return model_sql.signing_keys(conn)

    def rollouts(self, limit: int = 100) -> list[Rollout]:
        with self._reader() as conn:
            return model_sql.rollouts(conn, limit)

    def rollout(self, rollout_id: int) -> Rollout | None:
        with self._reader() as conn:
            return model_sql.rollout(conn, rollout_id)

    def rollout_events(
        self, after: int, limit: int, rollout_id: int | None = None
    ) -> list[RolloutEvent]:
        with self._reader() as conn:
            return model_sql.rollout_events(conn, after, limit, rollout_id)

    def training_rows(self, query: TrainingQuery) -> TrainingRows:
        with self._reader() as conn:
            return model_sql.training_rows(conn, query)

    def feed_scored(self, entry: FeedEntry, types: frozenset[str] | None = None) -> ScoredRows:
        with self._reader() as conn:
            return verdict_sql.feed_scored(conn, entry, types)

    def verdict_window(self, since: float) -> list[VerdictCounts]:
        with self._reader() as conn:
            return verdict_sql.verdict_window(conn, since)

    def verdict_totals(self) -> list[VerdictCounts]:
        with self._reader() as conn:
            return verdict_sql.verdict_totals(conn)

    def cloud_verdicts(
        self, keys: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], CloudVerdict]:
        with self._reader() as conn:
            return verdict_sql.cloud_verdicts(conn, keys)
