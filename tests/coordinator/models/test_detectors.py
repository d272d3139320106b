"""coordinator.models pca/autoencoder/knn: ONNX graphs equal their numpy and scikit-learn
references; every kind loads in the agent's scorer and says which it is."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgewatch.coordinator.models.export import to_onnx
from edgewatch.coordinator.models.trainer import ThresholdPolicy, TrainConfig, train_matrix
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelfile import FORMAT, INPUT_NAME, OUTPUT_NAME, read_model_bytes
from edgewatch.shared.readings import FloatArray
from edgewatch.shared.runtime import OnnxScorer

POLICY = ThresholdPolicy("quantile", quantile=1.0, margin=0.5)


def correlated(rng: np.random.Generator, n: int, f: int) -> FloatArray:
    mix = rng.normal(size=(f, f)) * rng.uniform(0.01, 50, f)
    return (
        rng.normal(size=(n, 3)) @ rng.normal(size=(3, f)) @ mix * 0.1
        + rng.normal(size=(n, f)) @ mix * 0.01
        + rng.uniform(-1e3, 1e3, f)
    )


def onnx_scores(data: bytes, x: FloatArray) -> FloatArray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]).ravel()


@pytest.mark.parametrize("detector", ["pca", "autoencoder"])
@pytest.mark.parametrize("seed", [0, 1])
def test_graph_equals_the_reference(detector: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train = correlated(rng, 600, 12)
    spec = FeatureSpec(tuple(f"m{i}" for i in range(12)))
    config = TrainConfig(detector=detector, threshold=POLICY, hidden=(6,))
    trained = train_matrix(train, spec, config, sensor_type="x", version=2)
    test = np.vstack([train[:200], train[200:400] * rng.uniform(0.9, 1.1, 12)])
    ours = onnx_scores(to_onnx(trained).SerializeToString(), test)
    reference = trained.reference_scores(test)
    assert np.abs(ours - reference).max() <= 1e-9 * max(1.0, float(np.abs(reference).max()))
    assert np.array_equal(ours > trained.threshold, reference > trained.threshold)


def test_pca_reference_is_scikit_learns_projection() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    train = correlated(rng, 500, 8)
    config = TrainConfig(detector="pca", threshold=POLICY, variance=0.9)
    trained = train_matrix(train, FeatureSpec(tuple("abcdefgh")), config, sensor_type="p")
    det = trained.detector
    z = (train - train.mean(0)) / train.std(0)
    pca = PCA(n_components=len(det.eigenvalues)).fit(z)  # type: ignore[attr-defined]
    t = pca.transform(z)
    t2 = np.sum(t * t / pca.explained_variance_, axis=1)
    q = np.sum((z - pca.inverse_transform(t)) ** 2, axis=1)
    ours_t2, ours_q = det.parts(train)  # type: ignore[attr-defined]
    np.testing.assert_allclose(ours_t2, t2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours_q, q, rtol=1e-6, atol=1e-9)
    assert len(det.eigenvalues) < 8  # type: ignore[attr-defined]  # 90 % kept, not all


def test_autoencoder_reference_is_the_mlp_regressors_prediction() -> None:
    rng = np.random.default_rng(4)
    train = correlated(rng, 400, 6)
    config = TrainConfig(detector="autoencoder", threshold=POLICY, hidden=(4,))
    det = train_matrix(train, FeatureSpec(tuple("abcdef")), config, sensor_type="a").detector
    z = det.scaling(train)  # type: ignore[attr-defined]
    np.testing.assert_allclose(det.reconstruct(z), det.net.predict(z), rtol=0, atol=1e-12)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [0, 1])
def test_pca_univariate_graph_equals_the_reference_and_sees_one_lone_metric(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train = correlated(rng, 600, 12)
    spec = FeatureSpec(tuple(f"m{i}" for i in range(12)))
    plain = train_matrix(
        train, spec, TrainConfig(detector="pca", threshold=POLICY), sensor_type="x"
    )
    config = TrainConfig(detector="pca", threshold=POLICY, univariate=True)
    trained = train_matrix(train, spec, config, sensor_type="x", version=2)
    test = np.vstack([train[:200], train[200:400] * rng.uniform(0.9, 1.1, 12)])
    ours = onnx_scores(to_onnx(trained).SerializeToString(), test)
    reference = trained.reference_scores(test)
    assert np.abs(ours - reference).max() <= 1e-9 * max(1.0, float(np.abs(reference).max()))
    assert np.array_equal(ours > trained.threshold, reference > trained.threshold)
    # One metric 6 training standard deviations off, the others as usual: the univariate
    # part scores it ~36 over the 99th percentile of max z², however many features T² sums.
    lone = train[:50].copy()
    lone[:, 4] = train[:, 4].mean() + 6 * train[:, 4].std()
    assert trained.reference_scores(lone).min() >= 36 / trained.detector.z_ref * 0.999  # type: ignore[attr-defined]
    assert (trained.reference_scores(lone) >= plain.reference_scores(lone)).all()


def lagged(rng: np.random.Generator, n: int, lags: int) -> tuple[FloatArray, FeatureSpec]:
    """A noisy cycle of 48 readings, as its value and ``lags`` previous values."""
    t = np.arange(n + lags)
    x = np.sin(2 * np.pi * t / 48) * 3 + rng.normal(0, 0.2, len(t))
    spec = FeatureSpec(("v",), lags=tuple(range(1, lags + 1)))
    cols = [x[lags - lag : lags - lag + n] for lag in range(lags + 1)]
    return np.column_stack(cols), spec


def knn_config(**changes: object) -> TrainConfig:
    knobs: dict[str, object] = {"detector": "knn", "threshold": POLICY, "scales": (3, 6, 10)}
    return TrainConfig(**(knobs | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1])
def test_knn_graph_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, spec = lagged(rng, 500, 9)
    trained = train_matrix(train, spec, knn_config(), sensor_type="n", version=3)
    test = np.vstack([train[:100] + rng.normal(0, 0.1, (100, 10)), lagged(rng, 200, 9)[0] * 1.5])
    ours = onnx_scores(to_onnx(trained).SerializeToString(), test)
    reference = trained.reference_scores(test)
    # |t|² − 2 z·t + |z|² loses ~1e-15 of |z|² to rounding; the square root turns that
    # into up to ~1e-7 where a distance is ~0 (a row next to a reference), 1e-12 elsewhere.
    assert np.abs(ours - reference).max() <= 1e-6
    far = reference > 0.1
    np.testing.assert_allclose(ours[far], reference[far], rtol=1e-9)
    assert np.array_equal(ours > trained.threshold, reference > trained.threshold)


def test_knn_scores_the_nearest_reference_per_scale_and_leaves_itself_out() -> None:
    from edgewatch.coordinator.models.knn import scale_columns

    rng = np.random.default_rng(2)
    train, spec = lagged(rng, 300, 9)
    trained = train_matrix(train, spec, knn_config(), sensor_type="n")
    det = trained.detector
    assert scale_columns(spec, (3, 6, 10)) == ((0, 1, 2), tuple(range(6)), tuple(range(10)))
    z = (train - train.mean(0)) / train.std(0)
    d = np.sqrt(((z[:, None, :6] - z[None, :, :6]) ** 2).sum(axis=2))
    np.testing.assert_allclose(det.distances(train)[:, 1], 0.0, atol=1e-6)  # type: ignore[attr-defined]
    np.fill_diagonal(d, np.inf)
    held_out = d.min(axis=1)
    refs = np.array([s.ref for s in det.scales])  # type: ignore[attr-defined]
    assert refs[1] == pytest.approx(np.quantile(held_out, 0.99), rel=1e-9)
    # Training scores leave each row's own reference out: unseen-like, never 0.
    assert trained.detector.training_scores(train).min() > 0
    assert trained.summary.score_quantiles[0] > 0
    # A shape never seen (a flat stretch in a cycle) is far from every reference.
    flat = np.full((5, 10), train[:, 0].mean())
    assert (trained.reference_scores(flat) > trained.threshold).all()


def test_knn_keeps_a_bounded_evenly_spread_reference_set() -> None:
    from edgewatch.coordinator.models.knn import REFERENCE_BYTES

    rng = np.random.default_rng(3)
    train, spec = lagged(rng, 3000, 9)
    trained = train_matrix(train, spec, knn_config(max_references=500), sensor_type="n")
    assert trained.detector.references == 500  # type: ignore[attr-defined]
    wide = rng.normal(size=(3000, 60))
    spec60 = FeatureSpec(tuple(f"m{i}" for i in range(60)))
    config = TrainConfig(detector="knn", threshold=POLICY)
    capped = train_matrix(wide, spec60, config, sensor_type="w")
    assert capped.detector.references * 61 * 8 <= REFERENCE_BYTES  # type: ignore[attr-defined]
    assert len(to_onnx(capped).SerializeToString()) <= 1024 * 1024
    with pytest.raises(ValueError, match="scales"):
        train_matrix(train, spec, knn_config(scales=(0, 5)), sensor_type="n")
    with pytest.raises(ValueError, match="no lags"):
        train_matrix(wide, spec60, knn_config(), sensor_type="w")


@pytest.mark.parametrize("detector", ["iforest", "pca", "autoencoder", "knn"])
def test_every_kind_loads_in_the_agent_scorer_and_names_itself(detector: str) -> None:
    rng = np.random.default_rng(5)
    train = correlated(rng, 400, 5)
    config = TrainConfig(n_trees=20, detector=detector, threshold=POLICY)
    trained = train_matrix(train, FeatureSpec(tuple("abcde")), config, sensor_type="k", version=9)
    data = to_onnx(trained).SerializeToString()
    scorer = OnnxScorer(read_model_bytes(data))
    assert scorer.name == "onnx:k@9" and scorer.meta.detector == detector
    assert scorer.meta.format == FORMAT
    assert len(data) <= 1024 * 1024


def test_contamination_threshold_is_refused_for_other_detectors() -> None:
    with pytest.raises(ValueError, match="contamination"):
        TrainConfig(detector="pca")
    with pytest.raises(ValueError, match="no detector"):
        TrainConfig(detector="lstm", threshold=POLICY)
