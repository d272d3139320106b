"""coordinator.training: the compact ONNX graph equals scikit-learn's decision_function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.ensemble._iforest import _average_path_length

from edgewatch.coordinator.models.export import export_model, to_onnx
from edgewatch.coordinator.models.forest import average_path_length, float32_boundary
from edgewatch.coordinator.models.trainer import (
    ThresholdPolicy,
    TrainConfig,
    TrainedModel,
    train_batch,
    train_matrix,
)
from edgewatch.shared.features import FeatureSpec, compute_features
from edgewatch.shared.modelfile import INPUT_NAME, OUTPUT_NAME, parse_meta
from edgewatch.shared.readings import FloatArray, ReadingBatch

BAND = 1e-5  # verdicts may differ only this close to the threshold
SKAB_LEVELS = np.array([0.027, 0.040, 1.3, 0.25, 79.0, 26.0, 233.0, 32.0])
SKAB_NOISE = np.array([0.001, 0.0015, 0.35, 0.15, 0.6, 0.3, 3.0, 1.2])
SKAB_DECIMALS = [7, 7, 5, 6, 4, 4, 3, 0]


def spec_of(n: int) -> FeatureSpec:
    return FeatureSpec(tuple(f"m{i}" for i in range(n)))


def onnx_scores(model: onnx.ModelProto, x: FloatArray) -> FloatArray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]).ravel()


def assert_parity(trained: TrainedModel, x: FloatArray) -> None:
    ours = onnx_scores(to_onnx(trained), x)
    reference = -trained.decision_function(x)
    assert np.abs(ours - reference).max() <= 1e-5
    outside = np.abs(reference - trained.threshold) > BAND
    assert outside.any()
    ours_says = ours[outside] > trained.threshold
    assert np.array_equal(ours_says, reference[outside] > trained.threshold)


def skab_like(rng: np.random.Generator, rows: int, anomalous: bool = False) -> FloatArray:
    """Water-pump-like readings, rounded like SKAB's (many ties on split values)."""
    drift = np.linspace(0, 1, rows)[:, None] * SKAB_NOISE * np.array([0, 0, 0, 0, 2, 2, 0, 0])
    x = SKAB_LEVELS + drift + rng.normal(size=(rows, 8)) * SKAB_NOISE
    if anomalous:
        x[rows // 2 :] += SKAB_NOISE * rng.uniform(-4, 4, 8)
    return np.column_stack([np.round(x[:, j], d) for j, d in enumerate(SKAB_DECIMALS)])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("trees", [50, 100])
@pytest.mark.parametrize("features", [5, 8])
def test_random_data_parity(seed: int, trees: int, features: int) -> None:
    rng = np.random.default_rng(seed)
    scale, shift = rng.uniform(0.01, 100, features), rng.uniform(-1e3, 1e3, features)
    train = rng.normal(size=(1500, features)) * scale + shift
    config = TrainConfig(n_trees=trees, random_state=seed)
    trained = train_matrix(train, spec_of(features), config, sensor_type="rnd")
    test = rng.standard_t(3, size=(3000, features)) * scale + shift
    assert_parity(trained, np.vstack([test, train[:500]]))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("trees", [50, 100])
def test_skab_like_parity_with_rolling_features(seed: int, trees: int) -> None:
    rng = np.random.default_rng(seed)
    names = ("a1", "a2", "cur", "p", "temp", "thermo", "volt", "flow")
    x = skab_like(rng, 1200, anomalous=True)
    batch = ReadingBatch(
        sensor_id=["pump"] * len(x),
        sensor_type=["skab"] * len(x),
        ts=np.arange(len(x), dtype=np.float64),
        metrics={n: x[:, j] for j, n in enumerate(names)},
    )
    spec = FeatureSpec(names, window=5, stats=("mean", "std"))
    policy = ThresholdPolicy("quantile", quantile=0.99)
    config = TrainConfig(n_trees=trees, threshold=policy, random_state=seed)
    trained = train_batch(batch.take(range(400)), spec, config, sensor_type="skab")
    assert_parity(trained, compute_features(batch, trained.spec))


def test_values_exactly_on_split_points_agree() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=(600, 5)) * 3 + 10
    trained = train_matrix(train, spec_of(5), TrainConfig(n_trees=50), sensor_type="edge")
    tree = trained.forest.estimators_[0].tree_
    inner = tree.children_left != -1
    feature, split = tree.feature[inner], tree.threshold[inner]
    # Raw values whose scaled value sits on, or one float32 step either side of, a split.
    probes = []
    for f, t in zip(feature, split, strict=True):
        for scaled in (t, np.nextafter(np.float32(t), np.float32(-1e9)), np.float32(t)):
            row = trained.scaler.mean_.copy()
            row[f] = float(scaled) * trained.scaler.scale_[f] + trained.scaler.mean_[f]
            probes.append(row)
    x = np.array(probes)
    ours = onnx_scores(to_onnx(trained), x)
    assert np.abs(ours + trained.decision_function(x)).max() <= 1e-5


def test_float32_boundary_reproduces_float32_comparison() -> None:
    rng = np.random.default_rng(3)
    t = rng.normal(size=2000) * 10.0 ** rng.integers(-3, 4, 2000)
    x = t + rng.normal(size=2000) * np.abs(t) * 1e-7  # within a few float32 steps
    left_sklearn = x.astype(np.float32) <= t
    assert np.array_equal(x <= float32_boundary(t), left_sklearn)


def test_average_path_length_matches_scikit_learn() -> None:
    n = np.array([0, 1, 2, 3, 10, 255, 256])
    np.testing.assert_allclose(average_path_length(n), _average_path_length(n), rtol=0, atol=0)


def test_graph_is_one_tree_ensemble_plus_three_arithmetic_nodes() -> None:
    rng = np.random.default_rng(0)
    trained = train_matrix(rng.normal(size=(800, 8)), spec_of(8), TrainConfig(), sensor_type="g")
    model = to_onnx(trained)
    ops = [(n.op_type, n.domain) for n in model.graph.node]
    assert ops == [("TreeEnsemble", "ai.onnx.ml"), ("Mul", ""), ("Exp", ""), ("Add", "")]
    assert {o.domain: o.version for o in model.opset_import}["ai.onnx.ml"] == 5
    ensemble = model.graph.node[0]
    splits = next(a for a in ensemble.attribute if a.name == "nodes_splits")
    assert splits.t.data_type == onnx.TensorProto.DOUBLE
    meta = parse_meta({p.key: p.value for p in model.metadata_props})
    assert meta.n_trees == 100 and meta.feature_names == list(spec_of(8).names)
    assert len(model.SerializeToString()) <= 1024 * 1024


def test_constant_training_data_gives_one_leaf_trees_that_still_score() -> None:
    train = np.ones((50, 5))
    trained = train_matrix(train, spec_of(5), TrainConfig(n_trees=10), sensor_type="flat")
    x = np.vstack([train[:3], np.full((2, 5), 7.0)])
    assert np.abs(onnx_scores(to_onnx(trained), x) + trained.decision_function(x)).max() <= 1e-5


def test_contamination_policy_verdict_is_scikit_learns_predict() -> None:
    rng = np.random.default_rng(9)
    train = rng.normal(size=(1000, 5))
    config = TrainConfig(n_trees=50, contamination=0.05)
    trained = train_matrix(train, spec_of(5), config, sensor_type="c")
    assert trained.threshold == 0.0
    x = rng.normal(size=(2000, 5)) * 1.5
    ours = onnx_scores(to_onnx(trained), x) > trained.threshold
    predict = trained.forest.predict(trained.scaler.transform(x)) == -1
    assert np.array_equal(ours, predict)


def test_quantile_policy_with_margin_sits_above_the_quantile() -> None:
    scores = np.linspace(0.0, 1.0, 101)
    assert ThresholdPolicy("quantile", quantile=0.9).threshold(scores) == pytest.approx(0.9)
    assert ThresholdPolicy("quantile", 1.0, margin=0.5).threshold(scores) == pytest.approx(1.25)


def test_tier_sets_the_tree_count() -> None:
    assert TrainConfig.for_tier("medium").n_trees == 50
    assert TrainConfig.for_tier("high", smooth=3).n_trees == 100
    with pytest.raises(ValueError):
        TrainConfig.for_tier("low")


def test_training_refuses_non_finite_or_tiny_input() -> None:
    with pytest.raises(ValueError):
        train_matrix(np.ones((1, 5)), spec_of(5), TrainConfig(), sensor_type="x")
    bad = np.ones((10, 5))
    bad[3, 2] = np.nan
    with pytest.raises(ValueError):
        train_matrix(bad, spec_of(5), TrainConfig(), sensor_type="x")


def test_export_model_writes_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    trained = train_matrix(
        rng.normal(size=(300, 5)), spec_of(5), TrainConfig(n_trees=50), sensor_type="w", version=42
    )
    path = tmp_path / "w.onnx"
    size = export_model(trained, path)
    assert path.stat().st_size == size
    assert not (tmp_path / "w.onnx.tmp").exists()
    loaded = onnx.load(str(path))
    assert parse_meta({p.key: p.value for p in loaded.metadata_props}).version == 42
