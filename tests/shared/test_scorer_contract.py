"""The scorer contract (``shared.scoring.Scorer``), one suite run against every scorer.

Rules, a model on its own, and the agent's tiered router with and without models: each
must return aligned, bounded verdicts that the wire accepts as they are (the encoder's
self-check drops nothing), name in every result the scorer that judged it, say through
``models()`` which model judges which type, rank an extreme reading above an ordinary
one, and not depend on how readings were cut into batches.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.encoder import encode_batch
from edgewatch.agent.scorers.rules import RuleScorer
from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.coordinator.models.export import export_model
from edgewatch.coordinator.models.trainer import TrainConfig, train_batch
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.readings import SIM_METRICS, ReadingBatch
from edgewatch.shared.runtime import OnnxScorer
from edgewatch.shared.scoring import ModelInfo, Scorer

SCORER_NAME = re.compile(r"^[A-Za-z0-9_.:+@-]{1,96}$")  # shared.schemas.ScorerName
TYPES = ("pump", "fan", "valve")


def _readings(n: int, types: tuple[str, ...], seed: int, *, strided: bool = False) -> ReadingBatch:
    rng = np.random.default_rng(seed)
    base = np.array([25.0, 60.0, 1013.0, 0.5, 100.0])
    sd = np.array([2.0, 5.0, 5.0, 0.1, 5.0])
    matrix = base + rng.normal(size=(n, 5)) * sd
    return ReadingBatch(
        sensor_id=[f"s{i % 4}" for i in range(n)],
        sensor_type=[types[i % len(types)] for i in range(n)],
        ts=np.full(n, 1_800_000_000.0),
        # Columns of one matrix, strided unless copied: sources may hand out either.
        metrics={
            m: (matrix[:, j] if strided else matrix[:, j].copy()) for j, m in enumerate(SIM_METRICS)
        },
    )


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract-models")
    files = {}
    for k, sensor_type in enumerate(TYPES[:2]):  # "valve" keeps no model: the fallback
        history = _readings(800, (sensor_type,), seed=10 + k)
        config = TrainConfig(n_trees=50, smooth=3)
        trained = train_batch(
            history, FeatureSpec(SIM_METRICS), config, sensor_type=sensor_type, version=4 + k
        )
        export_model(trained, root / f"{sensor_type}.onnx")
        files[sensor_type] = root / f"{sensor_type}.onnx"
    return files


def _tiered(files: dict[str, Path]) -> TieredScorer:
    tiered = TieredScorer(RuleScorer())
    for path in files.values():
        tiered.load(path)
    return tiered


FACTORIES: dict[str, Callable[[dict[str, Path]], Scorer]] = {
    "rules": lambda files: RuleScorer(),
    "onnx": lambda files: OnnxScorer.from_path(files["pump"]),
    "tiered-no-models": lambda files: TieredScorer(RuleScorer()),
    "tiered-with-models": _tiered,
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest, model_files: dict[str, Path]) -> Callable[[], Scorer]:
    return lambda: FACTORIES[request.param](model_files)


def test_it_is_a_scorer_and_its_names_fit_the_wire(make: Callable[[], Scorer]) -> None:
    scorer = make()
    assert isinstance(scorer, Scorer)
    assert scorer.name and len(scorer.name) <= 200
    for sensor_type, info in scorer.models().items():
        assert isinstance(info, ModelInfo) and info.sensor_type == sensor_type
        assert SCORER_NAME.match(info.scorer_name) and len(info.sha256) == 64


def test_verdicts_are_aligned_bounded_and_encode_without_loss(make: Callable[[], Scorer]) -> None:
    scorer = make()
    batch = _readings(300, TYPES, seed=1, strided=True)
    scores = scorer.score(batch)
    assert len(scores) == len(batch) == len(scores.score) == len(scores.confidence)
    assert scores.anomaly.dtype == np.bool_ and scores.score.dtype == np.float64
    assert np.all((scores.confidence >= 0) & (scores.confidence <= 1))
    assert all(SCORER_NAME.match(name) for name in scores.scorer)
    encoded = encode_batch(batch, scores, agent_id="a1", epoch=3, first_seq=0)
    assert encoded.dropped == {} and encoded.n == len(batch)


def test_every_result_names_the_model_that_judged_it(make: Callable[[], Scorer]) -> None:
    scorer = make()
    models = scorer.models()
    batch = _readings(90, TYPES, seed=2)
    names = scorer.score(batch).scorer
    for sensor_type, name in zip(batch.sensor_type, names, strict=True):
        if sensor_type in models:
            assert name == models[sensor_type].scorer_name
        elif isinstance(scorer, OnnxScorer):
            assert name == scorer.name  # a lone model judges whatever it is given
        else:
            assert name == "rules"


def test_an_empty_batch_gives_empty_verdicts(make: Callable[[], Scorer]) -> None:
    empty = _readings(0, TYPES, seed=3)
    assert len(make().score(empty)) == 0


def test_an_extreme_reading_scores_above_an_ordinary_one(make: Callable[[], Scorer]) -> None:
    scorer = make()
    batch = _readings(40, ("pump",), seed=4)
    wild = {m: v.copy() for m, v in batch.metrics.items()}
    # Sensor s3's last three readings: a model may smooth over a sensor's last few.
    extreme = [31, 35, 39]
    for m in ("temperature", "vibration", "power_consumption"):
        wild[m][extreme] = batch.metrics[m][extreme] * 12  # far outside anything seen
    scores = scorer.score(ReadingBatch(batch.sensor_id, batch.sensor_type, batch.ts, wild)).score
    assert scores[-1] > np.nanmax(np.delete(scores, extreme))


def test_verdicts_do_not_depend_on_how_readings_are_batched(make: Callable[[], Scorer]) -> None:
    batch = _readings(240, TYPES, seed=5)
    whole = make().score(batch)
    pieces = make()
    cuts = [0, 1, 17, 100, 101, 240]
    parts = [pieces.score(batch.take(range(a, b))) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_array_equal(np.concatenate([p.score for p in parts]), whole.score)
    np.testing.assert_array_equal(np.concatenate([p.anomaly for p in parts]), whole.anomaly)
    assert [n for p in parts for n in p.scorer] == whole.scorer
