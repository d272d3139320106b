"""Records of the model lifecycle in the store: the registry, signing keys, rollouts, and
the verdict figures of cloud re-scoring. Plain frozen dataclasses (``store.contract``
has the protocols, ``store.sqlite.models`` and ``store.sqlite.verdicts`` the SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgewatch.shared.readings import BoolArray, FloatArray, ReadingBatch

ModelStatus = Literal["candidate", "canary", "active", "retired", "rolled_back"]
MODEL_STATUSES: tuple[str, ...] = ("candidate", "canary", "active", "retired", "rolled_back")
ModelTier = Literal["medium", "high"]
RolloutState = Literal["canary", "soaking", "promoted", "rolled_back"]
RANK_BINS = 10


@dataclass(frozen=True)
class TrainingInfo:
    """What a model was trained on: rows used and left out, time span, agents, cost."""

    source: str  # "store" or "csv"
    rows: int
    excluded: int  # readings left out: judged or labelled anomalous
    sensors: int
    agents: tuple[str, ...]
    ts_first: float | None
    ts_last: float | None
    detector: str
    trees: int | None
    seconds: float
    # Readings of the type the store held when training began (the schedule's reference).
    readings_seen: int = 0


@dataclass(frozen=True)
class Evaluation:
    """The model scored on a held-back slice (the newest readings, not trained on)."""

    rows: int
    anomaly_rate: float
    # Scores at quantiles 0, 0.05, ..., 1 of the slice (21 points): the reference the
    # quality gate compares a canary's score distribution with.
    score_quantiles: tuple[float, ...]
    labelled: int
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None


@dataclass(frozen=True)
class NewModel:
    sensor_type: str
    tier: ModelTier
    version: int
    sha256: str
    created_at: float
    training: TrainingInfo
    evaluation: Evaluation | None
    key_id: str
    signature: str
    data: bytes


@dataclass(frozen=True)
class ModelRecord:
    """A registered model (its file is read apart: ``ModelStore.model_file``)."""

    id: int
    sensor_type: str
    tier: ModelTier
    version: int
    sha256: str
    size: int
    created_at: float
    status: ModelStatus
    status_at: float
    training: TrainingInfo
    evaluation: Evaluation | None
    key_id: str
    signature: str


@dataclass(frozen=True)
class SigningKeyRecord:
    """A public signing key; ``endorsement`` is the previous key's signature of it."""

    key_id: str
    public_key: str
    created_at: float
    endorsed_by: str | None = None
    endorsement: str | None = None


@dataclass(frozen=True)
class Rollout:
    """One staged rollout of a model (``id`` 0: not stored yet)."""

    id: int
    model_id: int
    sensor_type: str
    tier: ModelTier
    state: RolloutState
    canary_spec: str  # as asked: "10%", "pi-1,pi-2", "100%"
    canary: tuple[str, ...]
    shadow: bool
    baseline_model_id: int | None  # the model it replaces (None: the rules)
    started_at: float
    soak_started_at: float | None = None
    finished_at: float | None = None
    completed_at: float | None = None  # every target reported running the outcome
    reason: str = ""


@dataclass(frozen=True)
class RolloutEvent:
    """A transition of a rollout, and why (``figures``: what the gate saw)."""

    rollout_id: int
    at: float
    kind: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True)
class TrainingQuery:
    sensor_type: str
    since: float
    until: float | None = None
    limit: int = 100_000


@dataclass(frozen=True)
class TrainingRows:
    """Readings of one type, oldest first, with the verdicts stored beside them."""

    batch: ReadingBatch
    agent_id: list[str]
    anomaly: BoolArray  # the edge's verdict
    cloud_anomaly: BoolArray  # the cloud's, False where it did not re-score

    def __len__(self) -> int:
        return len(self.batch)


@dataclass(frozen=True)
class ScoredRows:
    """The readings one feed entry stored, columnar, with the edge's verdicts."""

    agent_id: str
    epoch: int
    seq: list[int]
    batch: ReadingBatch
    score: FloatArray  # NaN where the edge gave none
    anomaly: BoolArray
    scorer: list[str]

    def __len__(self) -> int:
        return len(self.seq)

    @staticmethod
    def empty(agent_id: str, epoch: int) -> ScoredRows:
        batch = ReadingBatch([], [], np.empty(0), {})
        return ScoredRows(agent_id, epoch, [], batch, np.empty(0), np.empty(0, np.bool_), [])


@dataclass(frozen=True)
class CloudVerdict:
    """The coordinator's verdict on one stored reading, beside the edge's."""

    agent_id: str
    epoch: int
    seq: int
    score: float | None
    anomaly: bool
    scorer: str
    why: Literal["sample", "no_model"]
    rescored_at: float


@dataclass(frozen=True)
class VerdictCounts:
    """Verdict figures of one agent, type and edge scorer (in one time bucket, or summed).

    ``ranks[i]``: readings whose score fell in the i-th tenth of the scorer's model's
    held-back score distribution (all zero for the rules): uniform when the edge sees
    what the evaluation saw.
    """

    agent_id: str
    sensor_type: str
    scorer: str
    readings: int = 0
    anomalies: int = 0
    rescored: int = 0
    agreed: int = 0
    cloud_anomalies: int = 0
    ranks: tuple[int, ...] = (0,) * RANK_BINS
    bucket: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.agent_id, self.sensor_type, self.scorer)

    def plus(self, other: VerdictCounts) -> VerdictCounts:
        return VerdictCounts(
            self.agent_id,
            self.sensor_type,
            self.scorer,
            self.readings + other.readings,
            self.anomalies + other.anomalies,
            self.rescored + other.rescored,
            self.agreed + other.agreed,
            self.cloud_anomalies + other.cloud_anomalies,
            tuple(a + b for a, b in zip(self.ranks, other.ranks, strict=True)),
            self.bucket,
        )
