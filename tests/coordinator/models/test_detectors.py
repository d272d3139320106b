"""coordinator.models pca/autoencoder: ONNX graphs equal their numpy and scikit-learn
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


@pytest.mark.parametrize("detector", ["iforest", "pca", "autoencoder"])
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
