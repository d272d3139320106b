"""Cloud re-scoring: a consumer of the committed feed (the hybrid path of the notebook).

For every batch ingest committed, it reads the stored readings (``feed_scored``) and:

- scores every reading of a type the cloud has a model for (``cloud.CloudScorers``), so
  the cloud's per-sensor windows see the whole stream;
- **stores** the cloud verdict beside the edge's (``cloud_verdicts``) for a deterministic
  sample of ``sample`` of them (by a hash of ``agent_id, epoch, seq``: every replica
  and every restart picks the same readings) and for **every** reading the edge judged
  without a model (``rules``): the agents without a model for the type;
- counts, per 10-second bucket, agent, type and edge scorer, readings, edge anomalies,
  re-scored readings, agreements and cloud anomalies, and where an edge model's scores
  fall in that model's held-back distribution (``VerdictCounts``): the quality gate's
  figures and the agreement the API and ``/metrics`` show.

Verdicts, counts and the consumer's watermark move in one transaction: exactly once.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from edgewatch.coordinator.rescoring.cloud import CloudScorers
from edgewatch.coordinator.store import FeedEntry, FeedStore, ModelStore, VerdictStore
from edgewatch.coordinator.store.model_records import CloudVerdict, ScoredRows, VerdictCounts
from edgewatch.shared.clock import SYSTEM, Clock

BUCKET_S = 10.0
RETENTION_S = 6 * 3600.0  # buckets kept: well beyond any soak period


def sampled(agent_id: str, epoch: int, seqs: Sequence[int], rate: float) -> np.ndarray:
    """Which of ``seqs`` fall in the sample: the same answer on every replica."""
    if rate <= 0:
        return np.zeros(len(seqs), dtype=np.bool_)
    if rate >= 1:
        return np.ones(len(seqs), dtype=np.bool_)
    salt = zlib.crc32(f"{agent_id}/{epoch}".encode())
    x = (np.asarray(seqs, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(
        2**32
    )
    return np.asarray(x < np.uint64(int(rate * 2**32)), dtype=np.bool_)


@dataclass
class RescoreCounters:
    """Since start, for ``/metrics``: re-scored readings by why."""

    rescored: dict[str, int] = field(default_factory=lambda: {"sample": 0, "no_model": 0})
    unscored: int = 0  # readings of types without any cloud model


class _Stores(ModelStore, VerdictStore, FeedStore, Protocol):
    """What the consumer needs of a store (models, verdicts, its feed watermark)."""


class RescoringConsumer:
    """``FeedConsumer`` of cloud re-scoring."""

    name = "rescoring"

    def __init__(self, store: _Stores, *, sample: float = 0.05, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.sample = sample
        self.clock = clock
        self.cloud = CloudScorers(store)
        self.counters = RescoreCounters()

    def consume(self, entries: Sequence[FeedEntry]) -> None:
        # Replicas run this consumer each (as the sensors one): past the stored watermark
        # only, applied by compare-and-set, so no page's counts are added twice.
        after = self.store.watermark(self.name)
        entries = [e for e in entries if e.position > after]
        if not entries:
            return
        self.cloud.refresh()
        verdicts: list[CloudVerdict] = []
        counts: dict[tuple[float, str, str, str], VerdictCounts] = {}
        now = self.clock.time()
        for entry in entries:
            rows = self.store.feed_scored(entry, self.cloud.types())
            bucket = entry.committed_at // BUCKET_S * BUCKET_S
            self._entry(rows, bucket, now, verdicts, counts)
        self.store.apply_rescoring(
            verdicts,
            list(counts.values()),
            self.name,
            entries[-1].position,
            now - RETENTION_S,
            after=after,
        )

    def _entry(
        self,
        rows: ScoredRows,
        bucket: float,
        now: float,
        verdicts: list[CloudVerdict],
        counts: dict[tuple[float, str, str, str], VerdictCounts],
    ) -> None:
        if not len(rows):
            return
        types = np.asarray(rows.batch.sensor_type)
        scorers = np.asarray(rows.scorer)
        picked = sampled(rows.agent_id, rows.epoch, rows.seq, self.sample)
        for sensor_type in sorted(set(rows.batch.sensor_type)):
            idx = np.flatnonzero(types == sensor_type)
            cloud = self.cloud.score(sensor_type, rows.batch.take(idx))
            if cloud is None:
                self.counters.unscored += len(idx)
            for scorer in sorted(set(scorers[idx].tolist())):
                sub = np.flatnonzero(scorers[idx] == scorer)
                at = idx[sub]
                anomaly = rows.anomaly[at]
                stored = np.zeros(len(at), dtype=np.bool_)
                agreed = cloud_anomalies = 0
                if cloud is not None:
                    no_model = not scorer.startswith("onnx:")
                    stored = np.ones(len(at), dtype=np.bool_) if no_model else picked[at]
                    why: Literal["sample", "no_model"] = "no_model" if no_model else "sample"
                    c_anomaly = cloud.anomaly[sub]
                    agreed = int(np.count_nonzero((c_anomaly == anomaly) & stored))
                    cloud_anomalies = int(np.count_nonzero(c_anomaly & stored))
                    for j in np.flatnonzero(stored).tolist():
                        score = float(cloud.score[sub[j]])
                        verdicts.append(
                            CloudVerdict(
                                rows.agent_id,
                                rows.epoch,
                                rows.seq[at[j]],
                                score if np.isfinite(score) else None,
                                bool(c_anomaly[j]),
                                cloud.scorer[sub[j]],
                                why,
                                now,
                            )
                        )
                    self.counters.rescored[why] += int(np.count_nonzero(stored))
                add = VerdictCounts(
                    rows.agent_id,
                    sensor_type,
                    scorer,
                    readings=len(at),
                    anomalies=int(np.count_nonzero(anomaly)),
                    rescored=int(np.count_nonzero(stored)),
                    agreed=agreed,
                    cloud_anomalies=cloud_anomalies,
                    ranks=self.cloud.ranks(scorer, rows.score[at]),
                    bucket=bucket,
                )
                key = (bucket, rows.agent_id, sensor_type, scorer)
                counts[key] = counts[key].plus(add) if key in counts else add
