"""agent.scorers.tiered: routing by sensor type, fallback, hot swap under load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.coordinator.models.export import export_model
from edgewatch.coordinator.models.trainer import TrainConfig, train_batch
from edgewatch.shared.errors import ModelError
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.runtime import OnnxScorer
from edgewatch.shared.scoring import ModelInfo, Scorer, Scores

METRICS = ("temperature", "vibration", "power_consumption")


class StandIn:
    """A fallback scorer: score = temperature, anomaly above 40 (like a rule would)."""

    name = "stand-in"

    def score(self, batch: ReadingBatch) -> Scores:
        temp = batch.metrics["temperature"]
        return Scores(temp - 40.0, temp > 40.0, np.full(len(batch), 0.9), [self.name] * len(batch))

    def models(self) -> dict[str, ModelInfo]:
        return {}


def readings(types: list[str], seed: int = 0) -> ReadingBatch:
    rng = np.random.default_rng(seed)
    n = len(types)
    x = rng.normal(size=(n, 3)) * [2.0, 0.1, 10.0] + [25.0, 1.0, 100.0]
    return ReadingBatch(
        sensor_id=[f"{t}-{i % 3}" for i, t in enumerate(types)],
        sensor_type=types,
        ts=np.arange(n, dtype=np.float64),
        metrics={m: x[:, j].copy() for j, m in enumerate(METRICS)},
    )


def write_model(path: Path, sensor_type: str, version: int) -> Path:
    batch = readings([sensor_type] * 600, seed=version)
    config = TrainConfig(n_trees=50)
    trained = train_batch(
        batch, FeatureSpec(METRICS), config, sensor_type=sensor_type, version=version
    )
    export_model(trained, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "pump@1": write_model(root / "pump1.onnx", "pump", 1),
        "pump@2": write_model(root / "pump2.onnx", "pump", 2),
        "fan@5": write_model(root / "fan5.onnx", "fan", 5),
    }


def _versions(tiered: TieredScorer) -> dict[str, int]:
    models = tiered.models()
    assert all(m.sensor_type == t and len(m.sha256) == 64 for t, m in models.items())
    return {t: m.version for t, m in models.items()}


def test_without_models_everything_goes_to_the_fallback() -> None:
    tiered = TieredScorer(StandIn())
    assert isinstance(tiered, Scorer)
    result = tiered.score(readings(["pump", "fan"] * 5))
    assert result.scorer == ["stand-in"] * 10
    assert tiered.models() == {}


def test_readings_route_by_type_and_keep_batch_order(models: dict[str, Path]) -> None:
    tiered = TieredScorer(StandIn())
    tiered.load(models["pump@1"])
    types = ["pump", "fan", "pump", "other", "fan", "pump"] * 20
    batch = readings(types, seed=3)
    result = tiered.score(batch)
    expected = ["onnx:pump@1" if t == "pump" else "stand-in" for t in types]
    assert result.scorer == expected
    pump_rows = [i for i, t in enumerate(types) if t == "pump"]
    direct = OnnxScorer.from_path(models["pump@1"]).score(batch.take(pump_rows))
    np.testing.assert_array_equal(result.score[pump_rows], direct.score)
    other = [i for i, t in enumerate(types) if t != "pump"]
    np.testing.assert_array_equal(result.score[other], batch.metrics["temperature"][other] - 40)
    assert _versions(tiered) == {"pump": 1}


def test_load_replaces_and_unload_falls_back(models: dict[str, Path]) -> None:
    tiered = TieredScorer(StandIn())
    tiered.load(models["pump@1"])
    tiered.load(models["fan@5"].read_bytes())
    tiered.load(models["pump@2"])
    assert _versions(tiered) == {"pump": 2, "fan": 5}
    assert tiered.score(readings(["pump"])).scorer == ["onnx:pump@2"]
    assert tiered.unload("pump") is True
    assert tiered.unload("pump") is False
    assert tiered.score(readings(["pump", "fan"])).scorer == ["stand-in", "onnx:fan@5"]


def test_bad_model_keeps_the_current_one(models: dict[str, Path], tmp_path: Path) -> None:
    tiered = TieredScorer(StandIn())
    tiered.load(models["pump@1"])
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(models["pump@2"].read_bytes()[:-100])  # truncated in transit
    with pytest.raises(ModelError):
        tiered.load(broken)
    assert _versions(tiered) == {"pump": 1}


def test_hot_swap_while_scoring_never_mixes_models_within_a_batch(
    models: dict[str, Path],
) -> None:
    tiered = TieredScorer(StandIn())
    scorers = [OnnxScorer.from_path(models["pump@1"]), OnnxScorer.from_path(models["pump@2"])]
    batch = readings(["pump"] * 50)
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def score_loop() -> None:
        try:
            while not stop.is_set():
                names = set(tiered.score(batch).scorer)
                assert len(names) == 1, names
                seen.update(names)
        except BaseException as exc:  # handed to the main thread, never swallowed
            errors.append(exc)

    worker = threading.Thread(target=score_loop)
    worker.start()
    deadline = time.monotonic() + 5.0
    try:
        i = 0
        while len(seen) < 3 and time.monotonic() < deadline:
            if i % 3 == 2:
                tiered.unload("pump")
            else:
                tiered.load(scorers[i % 2])
            i += 1
            time.sleep(0.001)  # let the scoring thread run a batch or two per swap
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not errors
    assert seen == {"onnx:pump@1", "onnx:pump@2", "stand-in"}


class Broken(OnnxScorer):
    """Fault injection: onnxruntime failing mid-run."""

    def score(self, batch: ReadingBatch) -> Scores:
        raise RuntimeError("onnxruntime: bad allocation")


def test_a_model_that_fails_never_loses_a_batch(models: dict[str, Path]) -> None:
    from edgewatch.shared.modelfile import read_model_bytes

    tiered = TieredScorer(StandIn())
    tiered.load(Broken(read_model_bytes(models["pump@1"])))
    batch = readings(["pump", "fan"] * 10)
    result = tiered.score(batch)
    # The failing model's rows were judged by the fallback, and say so.
    assert result.scorer == ["stand-in"] * 20
    assert tiered.errors == {"pump": 1}
    tiered.score(readings(["pump"] * 4))
    assert tiered.errors == {"pump": 2}
