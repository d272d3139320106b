"""agent.scorers.onnx: the agent's model scorer, on onnxruntime alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewatch.coordinator.models.export import build_graph, export_model, to_onnx
from edgewatch.coordinator.models.forest import flatten_forest
from edgewatch.coordinator.models.trainer import (
    AdaptiveConfig,
    ThresholdPolicy,
    TrainConfig,
    TrainedModel,
    train_batch,
)
from edgewatch.shared.errors import ModelError
from edgewatch.shared.features import FeatureSpec, compute_features
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.runtime import OnnxScorer, confidence
from edgewatch.shared.scoring import Scorer
from tests.support.procs import REPO_ROOT as ROOT

METRICS = ("temperature", "vibration", "power_consumption", "humidity", "pressure")


def readings(
    rng: np.random.Generator, n: int, sensors: int = 3, shift: float = 0.0
) -> ReadingBatch:
    x = rng.normal(size=(n, len(METRICS))) * [2.0, 0.1, 10.0, 5.0, 3.0] + [25, 1, 100, 50, 1013]
    x[n // 2 :] += shift
    return ReadingBatch(
        sensor_id=[f"s{i % sensors}" for i in range(n)],
        sensor_type=["industrial"] * n,
        ts=np.arange(n, dtype=np.float64),
        metrics={m: x[:, j].copy() for j, m in enumerate(METRICS)},
    )


def trained_model(smooth: int = 1, window: int = 1, version: int = 3) -> TrainedModel:
    spec = FeatureSpec(METRICS, window=window, stats=("mean", "std") if window > 1 else ())
    policy = ThresholdPolicy("quantile", quantile=0.99)
    config = TrainConfig(n_trees=50, threshold=policy, smooth=smooth)
    batch = readings(np.random.default_rng(0), 900)
    return train_batch(batch, spec, config, sensor_type="industrial", version=version)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "industrial.onnx"
    export_model(trained_model(), path)
    return path


def test_scorer_is_named_by_type_and_version(model_path: Path) -> None:
    scorer = OnnxScorer.from_path(model_path)
    assert isinstance(scorer, Scorer)
    assert scorer.name == "onnx:industrial@3"
    assert (scorer.sensor_type, scorer.version) == ("industrial", 3)


def test_session_runs_on_one_thread(model_path: Path) -> None:
    options = OnnxScorer.from_path(model_path)._session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_scores_are_negated_decision_function_and_verdict_is_threshold() -> None:
    trained = trained_model()
    scorer = OnnxScorer(read_model_bytes(to_onnx(trained).SerializeToString()))
    batch = readings(np.random.default_rng(1), 400, shift=8.0)
    result = scorer.score(batch)
    reference = -trained.decision_function(compute_features(batch, trained.spec))
    assert np.abs(result.score - reference).max() <= 1e-5
    assert np.array_equal(result.anomaly, result.score > trained.threshold)
    assert result.anomaly[200:].mean() > 0.5 > result.anomaly[:200].mean()
    assert result.scorer == ["onnx:industrial@3"] * 400


def test_micro_batches_score_like_one_batch_with_windows_and_smoothing() -> None:
    data = to_onnx(trained_model(smooth=4, window=6)).SerializeToString()
    batch = readings(np.random.default_rng(2), 300, sensors=4, shift=5.0)
    whole = OnnxScorer(read_model_bytes(data)).score(batch)
    streaming = OnnxScorer(read_model_bytes(data))
    parts = [streaming.score(batch.take(range(i, min(i + 7, 300)))) for i in range(0, 300, 7)]
    np.testing.assert_allclose(np.concatenate([p.score for p in parts]), whole.score, atol=1e-12)
    assert np.array_equal(np.concatenate([p.anomaly for p in parts]), whole.anomaly)


def adaptive_model(detector: str = "pca", refractory: int = 20) -> TrainedModel:
    spec = FeatureSpec(METRICS, lags=(1, 2, 3))
    config = TrainConfig(
        n_trees=30,
        detector=detector,
        threshold=ThresholdPolicy("quantile", quantile=1.0, margin=0.2),
        adaptive=AdaptiveConfig(k=3.0, alpha=0.01, refractory=refractory, clip=3.0),
        scales=(2, 4) if detector == "knn" else (),
    )
    batch = readings(np.random.default_rng(0), 600)
    return train_batch(batch, spec, config, sensor_type="industrial", version=4)


@pytest.mark.parametrize("detector", ["pca", "autoencoder", "iforest", "knn"])
def test_every_detector_streams_like_one_batch_with_adaptive_threshold(detector: str) -> None:
    data = to_onnx(adaptive_model(detector)).SerializeToString()
    batch = readings(np.random.default_rng(5), 400, sensors=3, shift=6.0)
    whole = OnnxScorer(read_model_bytes(data)).score(batch)
    streaming = OnnxScorer(read_model_bytes(data))
    parts = [streaming.score(batch.take(range(i, min(i + 9, 400)))) for i in range(0, 400, 9)]
    # Features and threshold state are bit for bit; onnxruntime may sum a tree ensemble
    # in another order for another batch size (last-bit differences).
    np.testing.assert_allclose(np.concatenate([p.score for p in parts]), whole.score, atol=1e-12)
    assert np.array_equal(np.concatenate([p.anomaly for p in parts]), whole.anomaly)
    conf = np.concatenate([p.confidence for p in parts])
    np.testing.assert_allclose(conf, whole.confidence, atol=1e-9)
    assert ((conf >= 0) & (conf <= 1)).all()


def test_adaptive_threshold_alarms_once_per_event_per_sensor() -> None:
    scorer = OnnxScorer(read_model_bytes(to_onnx(adaptive_model()).SerializeToString()))
    assert scorer.meta.policy.kind == "adaptive"
    batch = readings(np.random.default_rng(6), 300, sensors=1, shift=30.0)  # a step at 150
    alarms = np.flatnonzero(scorer.score(batch).anomaly)
    assert ((alarms >= 150) & (alarms <= 152)).sum() == 1  # the step, at once, once
    assert (np.diff(alarms) > 20).all()  # quiet for `refractory` readings after each alarm
    assert scorer.sensor_state_bytes() <= 4096


def test_single_readings_score_exactly_like_one_batch() -> None:
    # The agent's common case, one reading per call, takes the fast paths (one sensor, no
    # grouping; smoothing in float arithmetic): the same bits as the batch path.
    spec = FeatureSpec(METRICS, window=5, stats=("mean", "std", "delta"), lags=(1, 4))
    config = TrainConfig(
        detector="pca",
        univariate=True,
        smooth=4,
        threshold=ThresholdPolicy("quantile", quantile=1.0, margin=0.5),
    )
    batch = readings(np.random.default_rng(0), 600)
    trained = train_batch(batch, spec, config, sensor_type="industrial")
    data = to_onnx(trained).SerializeToString()
    batch = readings(np.random.default_rng(8), 120, sensors=2, shift=4.0)
    whole = OnnxScorer(read_model_bytes(data)).score(batch)
    one_by_one = OnnxScorer(read_model_bytes(data))
    parts = [one_by_one.score(batch.take([i])) for i in range(120)]
    # Features and smoothing are bit for bit (tests/shared/test_features.py); MatMul may
    # round a one-row product differently from a 120-row one.
    np.testing.assert_allclose(np.concatenate([p.score for p in parts]), whole.score, atol=1e-12)
    assert np.array_equal(np.concatenate([p.anomaly for p in parts]), whole.anomaly)
    assert whole.anomaly[60:].any()  # the shift is seen, so the verdicts compared mean something


def test_warm_fills_windows_without_judging() -> None:
    trained = trained_model(smooth=3, window=6)
    data = to_onnx(trained).SerializeToString()
    batch = readings(np.random.default_rng(4), 200, sensors=2)
    whole = OnnxScorer(read_model_bytes(data)).score(batch)
    warmed = OnnxScorer(read_model_bytes(data))
    warmed.warm(batch.take(range(120)))
    rest = warmed.score(batch.take(range(120, 200)))
    assert rest.score.tobytes() == whole.score[120:].tobytes()
    cold = OnnxScorer(read_model_bytes(data)).score(batch.take(range(120, 200)))
    assert not np.array_equal(cold.score, rest.score)  # the windows did start full


def test_clipped_adaptive_threshold_still_sees_the_second_anomaly() -> None:
    from edgewatch.shared.thresholds import AdaptivePolicy, AdaptiveSpec

    # Quiet scores, a huge anomaly, 300 quiet readings, then a modest one.
    scores = np.full(700, 0.5)
    scores[100:105] = 1e6
    scores[400] = 5.0
    verdicts = {}
    for clip in (None, 3.0):
        spec = AdaptiveSpec(3.0, 0.002, 50, "log1p", float(np.log1p(0.5)), 0.01, clip=clip)
        verdicts[clip] = np.flatnonzero(AdaptivePolicy(spec).judge(["s"] * 700, scores)[0])
    assert verdicts[3.0].tolist() == [100, 400]
    assert verdicts[None].tolist() == [100]  # the first inflated the variance for ~1/alpha
    with pytest.raises(ValueError, match="clip"):
        AdaptiveSpec(3.0, 0.01, 50, "log1p", 0.0, 1.0, clip=-1.0)


def test_adaptive_state_is_bounded_per_sensor() -> None:
    from edgewatch.shared.thresholds import AdaptivePolicy, AdaptiveSpec

    policy = AdaptivePolicy(AdaptiveSpec(3.0, 0.01, 5, "log1p", 0.0, 1.0), max_sensors=2)
    for key in ("a", "b", "c"):
        policy.judge([key], np.array([0.5]))
    assert len(policy) == 2


def test_confidence_is_in_unit_interval_and_grows_away_from_threshold() -> None:
    quantiles = np.linspace(-0.2, 0.1, 101)
    score = np.array([-0.3, -0.2, -0.05, 0.0, 0.05, 0.2, 1.0])
    conf = confidence(score, 0.0, quantiles)
    assert ((conf >= 0) & (conf <= 1)).all()
    assert conf[3] == pytest.approx(0.5)
    assert conf[0] == 1.0 and conf[1] == 1.0
    assert conf[2] < conf[1]
    assert 0.5 < conf[4] < conf[5] < conf[6] < 1.0


def test_one_reading_confidence_equals_the_vectorised_form() -> None:
    from edgewatch.shared.runtime import Calibration

    rng = np.random.default_rng(0)
    for _ in range(200):
        quantiles = np.sort(np.round(rng.normal(size=101), 1))  # ties, as discrete data has
        threshold = float(quantiles[rng.integers(0, 101)]) + float(rng.choice([0.0, 0.05]))
        calibration = Calibration.of(threshold, quantiles)
        edges = [threshold, quantiles[0] - 1, quantiles[-1] + 1, float("nan")]
        scores = np.concatenate([quantiles, rng.normal(size=30) * 2, edges])
        vectorised = calibration(np.concatenate([scores, scores]))[: len(scores)]
        single = np.array([calibration(np.array([x]))[0] for x in scores])
        np.testing.assert_allclose(single, vectorised, rtol=0, atol=1e-12)


def test_missing_metric_column_is_imputed_not_an_error(model_path: Path) -> None:
    batch = readings(np.random.default_rng(3), 20)
    partial = ReadingBatch(
        sensor_id=batch.sensor_id,
        sensor_type=batch.sensor_type,
        ts=batch.ts,
        metrics={k: v for k, v in batch.metrics.items() if k != "pressure"},
    )
    result = OnnxScorer.from_path(model_path).score(partial)
    assert np.isfinite(result.score).all() and len(result) == 20


def test_empty_batch_gives_empty_scores(model_path: Path) -> None:
    empty = readings(np.random.default_rng(0), 0)
    assert len(OnnxScorer.from_path(model_path).score(empty)) == 0


def test_garbage_file_raises_model_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match="onnxruntime"):
        OnnxScorer.from_path(path)


def test_graph_without_metadata_raises_model_error() -> None:
    trained = trained_model()
    arrays = flatten_forest(trained.forest, trained.scaler)
    bare = build_graph(arrays, len(METRICS), -0.01, -0.5).SerializeToString()
    with pytest.raises(ModelError, match="not an edgewatch model"):
        OnnxScorer(read_model_bytes(bare))


def test_metadata_that_does_not_fit_the_graph_raises_model_error() -> None:
    trained = trained_model()
    model = to_onnx(trained)
    wider = trained.meta().model_copy(update={"features": {"metrics": [*METRICS, "extra"]}})
    wider = wider.model_copy(update={"feature_names": [*METRICS, "extra"]})
    summary = wider.training.model_copy(
        update={"feature_mean": [0.0] * 6, "feature_std": [1.0] * 6}
    )
    wider = wider.model_copy(update={"training": summary})
    del model.metadata_props[:]
    for key, value in wider.to_props().items():
        model.metadata_props.add(key=key, value=value)
    with pytest.raises(ModelError, match="features"):
        OnnxScorer(read_model_bytes(model.SerializeToString()))


def test_agent_scorers_never_import_the_training_stack() -> None:
    code = (
        "import json, sys\n"
        "import edgewatch.shared.runtime, agent.scorers.tiered\n"
        "banned = ['sklearn', 'skl2onnx', 'onnx', 'pandas', 'fastapi']\n"
        "print(json.dumps([m for m in banned if m in sys.modules]))\n"
    )
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
