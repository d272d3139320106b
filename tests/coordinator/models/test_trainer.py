"""coordinator.models.trainer on CSV files: training sees exactly what CSV replay emits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.sources.csv_replay import CsvReplay
from edgewatch.coordinator.evaluation.recipe import POINTWISE_IFOREST
from edgewatch.coordinator.evaluation.skab import EvalConfig
from edgewatch.coordinator.models.trainer import (
    MIN_ROWS,
    RECIPE_SMOOTH,
    RECIPE_THRESHOLD,
    TooFewRows,
    TrainConfig,
    train_csv,
    train_table,
)
from edgewatch.shared.csvfile import read_csv
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import ReadingBatch


def write_odd_csv(path: Path, rows: int = 300) -> Path:
    """A NAB-like file with a header to sanitise, a text column and junk rows."""
    rng = np.random.default_rng(7)
    lines = ["timestamp,flow [l/min],site,pressure,label"]
    for i in range(rows):
        stamp = f"2021-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        flow, pressure = rng.normal(30, 1), rng.normal(2, 0.1)
        lines.append(f"{stamp},{flow:.3f},north,{pressure:.3f},0")
        if i % 50 == 7:
            lines.append(f"{stamp},broken,north,{pressure:.3f},0")  # bad_number
        if i % 70 == 3:
            lines.append(f"{stamp},{flow:.3f},north,inf,0")  # non_finite
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def replayed(path: Path) -> ReadingBatch:
    source = CsvReplay([path], sensor_type="flow")
    batches = []
    while (batch := source.poll(1000)) is not None:
        batches.append(batch)
    return ReadingBatch.concat(batches)


def test_training_sees_exactly_the_rows_and_names_replay_emits(tmp_path: Path) -> None:
    path = write_odd_csv(tmp_path / "site.csv")
    stream = replayed(path)
    trained = train_csv(path, TrainConfig(n_trees=10), sensor_type="flow")
    assert trained.spec.metrics == tuple(stream.metrics) == ("flow _l/min_", "pressure")
    assert trained.summary.rows == len(stream) == 300
    means = [float(np.mean(stream.metrics[m])) for m in trained.spec.metrics]
    np.testing.assert_allclose(trained.summary.feature_mean, means, rtol=0, atol=1e-12)
    assert trained.summary.ts_first is not None and trained.summary.ts_last is not None
    assert trained.summary.ts_last - trained.summary.ts_first == 299.0


def test_rows_takes_the_first_good_rows(tmp_path: Path) -> None:
    path = write_odd_csv(tmp_path / "site.csv")
    first = replayed(path).take(range(60))
    trained = train_csv(path, TrainConfig(n_trees=10), sensor_type="flow", rows=60)
    assert trained.summary.rows == 60
    assert trained.summary.feature_mean[1] == pytest.approx(np.mean(first.metrics["pressure"]))


def test_a_file_without_times_trains_with_no_time_span(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("a,b\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(50)), encoding="utf-8")
    trained = train_table(read_csv(path), TrainConfig(n_trees=10), sensor_type="plain")
    assert trained.summary.ts_first is None and trained.summary.ts_last is None
    assert trained.meta().training.rows == 50  # the metadata validates with no times


def test_too_few_rows_names_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("ts,a,b\n1609459200,1,2\n1609459201,3\n", encoding="utf-8")
    with pytest.raises(TooFewRows) as caught:
        train_csv(path, TrainConfig(n_trees=10), sensor_type="x")
    assert (caught.value.rows, caught.value.needed) == (1, MIN_ROWS)
    assert isinstance(caught.value, ValueError)  # callers catching ValueError still do


def test_an_unusable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        train_csv(tmp_path / "nope.csv", TrainConfig(), sensor_type="x")


def test_the_pointwise_recipe_is_what_edgewatch_train_defaults_to() -> None:
    # docs/models.md reports the evaluation's iforest figures as those of `edgewatch
    # train`'s defaults: the two must not drift apart.
    assert POINTWISE_IFOREST.smooth == RECIPE_SMOOTH
    assert (POINTWISE_IFOREST.quantile, POINTWISE_IFOREST.margin) == (
        RECIPE_THRESHOLD.quantile,
        RECIPE_THRESHOLD.margin,
    )
    assert RECIPE_THRESHOLD.kind == "quantile"
    assert EvalConfig().recipe.detector == "pca"  # the evaluation's fixed recipe
