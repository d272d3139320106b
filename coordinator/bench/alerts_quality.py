"""Detection quality of the alert rules on the simulator's labelled episodes.

Offline, on a manual clock, through the real code: the simulated fleet's stream (one
reading per second per sensor, ``hours`` of it), scored by a scorer (rules, or a model per
type trained on another stretch of the fleet), written to a real store, followed by the
aggregates and alerts consumers, the engine ticking every ``tick_s`` simulated seconds.

An **episode** is a run of readings a sensor's label marks anomalous. It is **caught**
by a rule when an alert of that rule for that sensor is **raised** between the episode's
start and ``grace`` after its end (60 s for ``critical_anomaly``, its clear time; 300 s
for ``high_anomaly_rate``, its window): an alert already open from before does not
count, so one alert left open for hours cannot "catch" everything. **Covered** is the
lenient figure an operator also cares about: an alert of that rule is open at some
point of the episode (or raised within grace after it). A raise outside every episode's
span (plus grace) of its sensor is a **false alert**.

The model is a medium-tier IsolationForest per sensor type, trained on another stretch
of the same fleet without anomalies (an operator's known-good period), smoothing 5,
threshold at the 99.5 % quantile of its training scores.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.feed import CriticalConsumer
from edgewatch.coordinator.alerts.publisher import AlertPublisher
from edgewatch.coordinator.alerts.records import AlertQuery
from edgewatch.coordinator.alerts.rules import load_rules
from edgewatch.coordinator.alerts.signals import Signals
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.store import SqliteStore, WriteSet
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.schemas import ResultBatch
from edgewatch.shared.scoring import Scorer
from edgewatch.shared.topics import Topics

RULES = ("critical_anomaly", "high_anomaly_rate")


@dataclass(frozen=True)
class SimCase:
    name: str
    anomaly_probability: float
    mean_episode_s: float


def _episodes(labels: np.ndarray, ts: np.ndarray) -> list[tuple[float, float]]:
    spans = []
    start = None
    for i, lab in enumerate(labels.tolist()):
        if lab and start is None:
            start = i
        if not lab and start is not None:
            spans.append((float(ts[start]), float(ts[i - 1])))
            start = None
    if start is not None:
        spans.append((float(ts[start]), float(ts[-1])))
    return spans


def _batch(b: ReadingBatch, scores: Any, seq: int) -> ResultBatch:
    metrics = {
        m: [None if np.isnan(v) else float(v) for v in col.tolist()] for m, col in b.metrics.items()
    }
    return ResultBatch(
        schema_version=2,
        agent_id="sim",
        epoch=1,
        first_seq=seq,
        sensor_id=list(b.sensor_id),
        sensor_type=list(b.sensor_type),
        ts=b.ts.tolist(),
        metrics=metrics,
        status=list(b.status),  # type: ignore[arg-type]
        label=list(b.label),
        score=[None if np.isnan(v) else float(v) for v in scores.score.tolist()],
        anomaly=[bool(v) for v in scores.anomaly.tolist()],
        confidence=[float(min(1.0, max(0.0, v))) for v in scores.confidence.tolist()],
        scorer=list(scores.scorer),
    )


def run_case(
    case: SimCase,
    scorer: Scorer,
    *,
    sensors: int,
    hours: float,
    seed: int,
    tick_s: float = 10.0,
    grace_s: float = 300.0,
) -> dict[str, Any]:
    from edgewatch.agent.sources.simulator import expected_stream

    per_sensor = int(hours * 3600)
    stream = expected_stream(
        seed,
        sensors,
        0,
        per_sensor * sensors,
        rate=float(sensors),  # one reading per second per sensor
        anomaly_probability=case.anomaly_probability,
        mean_episode_s=case.mean_episode_s,
    )
    t0 = float(int(time.time() // 3600) * 3600 - 48 * 3600)
    k = np.arange(len(stream))
    ts = t0 + (k // sensors).astype(np.float64)
    stream = ReadingBatch(
        stream.sensor_id, stream.sensor_type, ts, stream.metrics, stream.status, stream.label
    )
    scores = scorer.score(stream)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "quality.db")
        clock = ManualClock(wall=t0)
        signals = Signals(store, lambda: [], timeout_s=15.0)
        engine = AlertEngine(
            store, load_rules(None), signals, AlertPublisher(Topics(), None), clock=clock
        )
        runners = [
            ConsumerRunner(c, store, CommittedFeed(), batch=500)
            for c in (AggregateConsumer(store), CriticalConsumer(engine))
        ]
        chunk = int(tick_s) * sensors
        for start in range(0, len(stream), chunk):
            idx = np.arange(start, min(start + chunk, len(stream)))
            part = stream.take(idx)
            part_scores = type(scores)(
                scores.score[idx],
                scores.anomaly[idx],
                scores.confidence[idx],
                [scores.scorer[i] for i in idx.tolist()],
            )
            store.write(WriteSet(batches=[_batch(part, part_scores, start)]))
            clock.advance(float(ts[idx[-1]]) + 1.0 - clock.time())
            for r in runners:
                r.catch_up()
            engine.tick()
        alerts = store.alerts(AlertQuery(limit=1_000_000))
        store.close()
    labels = np.asarray([1 if v else 0 for v in stream.label])
    sid = np.asarray(stream.sensor_id)
    out: dict[str, Any] = {"sensor_hours": sensors * hours}
    for rule in RULES:
        grace = 300.0 if rule == "high_anomaly_rate" else 60.0
        caught = covered = total = false = 0
        raises = 0
        for s in sorted(set(stream.sensor_id)):
            mine = sid == s
            episodes = _episodes(labels[mine], ts[mine])
            opened = [
                (a.raised_at, a.cleared_at or float("inf"))
                for a in alerts
                if a.rule == rule and a.scope == f"sensor:{s}"
            ]
            raised = [r for r, _ in opened]
            raises += len(raised)
            total += len(episodes)
            caught += sum(1 for e0, e1 in episodes if any(e0 <= r <= e1 + grace for r in raised))
            covered += sum(
                1 for e0, e1 in episodes if any(o0 <= e1 + grace and o1 >= e0 for o0, o1 in opened)
            )
            false += sum(1 for r in raised if not any(e0 <= r <= e1 + grace for e0, e1 in episodes))
        out[rule] = {
            "episodes": total,
            "episode_recall": round(caught / total, 3) if total else None,
            "episode_covered": round(covered / total, 3) if total else None,
            "alerts": raises,
            "false_alerts": false,
            "false_alerts_per_hour_per_sensor": round(false / (sensors * hours), 3),
        }
    return out


def model_scorer(sensors: int, seed: int, skip: int) -> Scorer:
    """A medium-tier model per sensor type, trained on readings ``skip ..`` of the same
    fleet, generated without anomalies (the known-good period an operator trains on)."""
    from edgewatch.agent.scorers.factory import default_rules_scorer
    from edgewatch.agent.scorers.tiered import TieredScorer
    from edgewatch.agent.sources.simulator import expected_stream
    from edgewatch.coordinator.models.export import export_model
    from edgewatch.coordinator.models.trainer import ThresholdPolicy, TrainConfig, train_batch
    from edgewatch.shared.features import FeatureSpec
    from edgewatch.shared.readings import SIM_METRICS

    history = expected_stream(
        seed, sensors, 0, skip + 4000 * sensors, start=skip, rate=float(sensors),
        anomaly_probability=0.0,
    )  # fmt: skip
    config = TrainConfig.for_tier(
        "medium", smooth=5, threshold=ThresholdPolicy("quantile", quantile=0.995)
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-alerts-models-"))
    tiered = TieredScorer(default_rules_scorer())
    for sensor_type in sorted(set(history.sensor_type)):
        trained = train_batch(
            history, FeatureSpec(SIM_METRICS), config, sensor_type=sensor_type, version=1
        )
        path = folder / f"{sensor_type}.onnx"
        export_model(trained, path)
        tiered.load(path)
    return tiered


def quality(
    *, sensors: int, hours: float, seed: int, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    from edgewatch.agent.scorers.factory import default_rules_scorer

    cases = (
        SimCase("default episodes (p=0.005, mean 30 s)", 0.005, 30.0),
        SimCase("long episodes (p=0.0005, mean 300 s)", 0.0005, 300.0),
    )
    scorers: dict[str, Callable[[], Scorer]] = {
        "rules": default_rules_scorer,
        "model": lambda: model_scorer(sensors, seed, int(hours * 3600) * sensors),
    }
    out: dict[str, Any] = {}
    for name, make in scorers.items():
        scorer = make()
        for case in cases:
            if progress:
                progress(f"quality: {name}, {case.name}")
            out.setdefault(name, {})[case.name] = run_case(
                case, scorer, sensors=sensors, hours=hours, seed=seed
            )
    return out
