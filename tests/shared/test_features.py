"""shared.features: the feature vector, streaming state == batch, bounded memory."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.shared.features import (
    FeatureSpec,
    FeatureState,
    ScoreSmoother,
    compute_features,
    metric_matrix,
)
from edgewatch.shared.readings import ReadingBatch


def make_batch(sensors: list[str], values: dict[str, list[float]]) -> ReadingBatch:
    return ReadingBatch(
        sensor_id=sensors,
        sensor_type=["t"] * len(sensors),
        ts=np.arange(len(sensors), dtype=np.float64),
        metrics={k: np.asarray(v, dtype=np.float64) for k, v in values.items()},
    )


def test_names_are_raw_metrics_then_each_stat_per_metric() -> None:
    spec = FeatureSpec(("a", "b"), window=4, stats=("std", "mean"))
    assert spec.names == ("a", "b", "a:std@4", "b:std@4", "a:mean@4", "b:mean@4")


def test_spec_round_trips_through_dict() -> None:
    spec = FeatureSpec(("a", "b"), window=3, stats=("mean", "delta"), fill=(1.5, -2.0))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metrics": ()},
        {"metrics": ("a", "a")},
        {"metrics": ("a",), "window": 0},
        {"metrics": ("a",), "window": 3, "stats": ("median",)},
        {"metrics": ("a",), "window": 1, "stats": ("mean",)},
        {"metrics": ("a", "b"), "fill": (1.0,)},
        {"metrics": ("a",), "fill": (float("nan"),)},
    ],
)
def test_malformed_spec_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FeatureSpec(**kwargs)  # type: ignore[arg-type]


def test_metric_matrix_orders_columns_and_marks_absent_and_infinite() -> None:
    batch = make_batch(["s", "s"], {"b": [1.0, np.inf], "a": [2.0, 3.0]})
    got = metric_matrix(batch, ("a", "b", "c"))
    np.testing.assert_array_equal(got, [[2.0, 1.0, np.nan], [3.0, np.nan, np.nan]])
    for i in range(2):  # one reading at a time takes a shorter path to the same matrix
        np.testing.assert_array_equal(
            metric_matrix(batch.take([i]), ("a", "b", "c")), got[i : i + 1]
        )


def test_absent_metric_carries_last_value_forward_else_fill() -> None:
    spec = FeatureSpec(("a", "b"), fill=(10.0, 20.0))
    batch = make_batch(
        ["s"] * 4, {"a": [np.nan, 1.0, np.nan, 3.0], "b": [5.0, np.nan, np.nan, 6.0]}
    )
    got = compute_features(batch, spec)
    np.testing.assert_array_equal(got, [[10.0, 5.0], [1.0, 5.0], [1.0, 5.0], [3.0, 6.0]])


def test_rolling_stats_pad_with_the_first_reading() -> None:
    spec = FeatureSpec(("a",), window=3, stats=("mean", "std", "delta"))
    got = compute_features(make_batch(["s"] * 4, {"a": [3.0, 6.0, 0.0, 9.0]}), spec)
    windows = np.array([[3, 3, 3], [3, 3, 6], [3, 6, 0], [6, 0, 9]], dtype=np.float64)
    expected = np.column_stack(
        [windows[:, -1], windows.mean(axis=1), windows.std(axis=1), windows[:, -1] - windows[:, 0]]
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_sensors_keep_separate_windows() -> None:
    spec = FeatureSpec(("a",), window=2, stats=("delta",))
    got = compute_features(make_batch(["x", "y", "x", "y"], {"a": [1.0, 100.0, 2.0, 300.0]}), spec)
    np.testing.assert_array_equal(got[:, 1], [0.0, 0.0, 1.0, 200.0])


sensor_rows = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2", "s3"]),
        st.one_of(st.floats(-1e3, 1e3), st.just(float("nan"))),
        st.one_of(st.floats(-1e3, 1e3), st.just(float("nan"))),
    ),
    min_size=1,
    max_size=60,
)


def test_lags_are_past_values_of_the_same_sensor_padded_with_the_first() -> None:
    spec = FeatureSpec(("a",), lags=(1, 3))
    assert spec.names == ("a", "a:lag@1", "a:lag@3") and spec.history == 3
    got = compute_features(make_batch(["s", "t", "s", "s", "s"], {"a": [1, 50, 2, 3, 4]}), spec)
    np.testing.assert_array_equal(got, [[1, 1, 1], [50, 50, 50], [2, 1, 1], [3, 2, 1], [4, 3, 1]])


def test_spec_with_lags_round_trips_and_old_specs_still_read() -> None:
    spec = FeatureSpec(("a", "b"), window=3, stats=("mean",), lags=(2, 5))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert "lags" not in FeatureSpec(("a",)).to_dict()  # as files of the first release
    with pytest.raises(ValueError):
        FeatureSpec(("a",), lags=(0,))
    with pytest.raises(ValueError):
        FeatureSpec(("a",), lags=(10_000,))


@settings(max_examples=60, deadline=None)
@given(
    rows=sensor_rows,
    cuts=st.lists(st.integers(1, 59), max_size=6),
    window=st.integers(2, 6),
    stats=st.sampled_from([(), ("mean",), ("std", "delta"), ("mean", "std", "delta")]),
    lags=st.sampled_from([(), (1,), (2, 7), (1, 3, 9)]),
)
def test_streaming_in_chunks_equals_one_batch_exactly(
    rows: list[tuple[str, float, float]],
    cuts: list[int],
    window: int,
    stats: tuple[str, ...],
    lags: tuple[int, ...],
) -> None:
    spec = FeatureSpec(
        ("a", "b"), window=window if stats else 1, stats=stats, fill=(0.5, -1.0), lags=lags
    )
    batch = make_batch([r[0] for r in rows], {"a": [r[1] for r in rows], "b": [r[2] for r in rows]})
    whole = compute_features(batch, spec)
    state = FeatureState(spec, max_sensors=8)
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    parts = [state.update(batch.take(range(a, b))) for a, b in itertools.pairwise(bounds)]
    streamed = np.vstack(parts)
    # Bit-for-bit: the agent must compute exactly what training computed.
    assert streamed.tobytes() == whole.tobytes()


@settings(max_examples=30, deadline=None)
@given(rows=sensor_rows, window=st.integers(2, 6), lags=st.sampled_from([(), (1, 3)]))
def test_one_reading_at_a_time_equals_one_batch_exactly(
    rows: list[tuple[str, float, float]], window: int, lags: tuple[int, ...]
) -> None:
    spec = FeatureSpec(
        ("a", "b"), window=window, stats=("mean", "std", "delta"), fill=(0.5, -1.0), lags=lags
    )
    batch = make_batch([r[0] for r in rows], {"a": [r[1] for r in rows], "b": [r[2] for r in rows]})
    whole = compute_features(batch, spec)
    state = FeatureState(spec)
    singles = np.vstack([state.update(batch.take([i])) for i in range(len(rows))])
    assert singles.tobytes() == whole.tobytes()


def test_state_is_bounded_and_forgets_least_recently_seen_sensor() -> None:
    spec = FeatureSpec(("a",), window=3, stats=("mean",))
    state = FeatureState(spec, max_sensors=2)
    state.update(make_batch(["x", "y"], {"a": [1.0, 2.0]}))
    state.update(make_batch(["x"], {"a": [1.0]}))  # y is now least recent
    state.update(make_batch(["z"], {"a": [5.0]}))
    assert len(state) == 2 and state.evicted == 1
    # y starts afresh: its window is padded with its new first reading only.
    got = state.update(make_batch(["y"], {"a": [8.0]}))
    np.testing.assert_array_equal(got, [[8.0, 8.0]])


def test_unbounded_state_refuses_nonsense_bound() -> None:
    with pytest.raises(ValueError):
        FeatureState(FeatureSpec(("a",)), max_sensors=0)


def test_score_smoother_is_a_causal_mean_per_sensor() -> None:
    smoother = ScoreSmoother(3)
    first = smoother.update(["x", "y", "x"], np.array([3.0, 30.0, 6.0]))
    second = smoother.update(["x"], np.array([9.0]))
    np.testing.assert_allclose(first, [3.0, 30.0, 4.0])
    np.testing.assert_allclose(second, [6.0])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["s1", "s2", "s3"]),
            st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))),
        ),
        min_size=1,
        max_size=60,
    ),
    cuts=st.lists(st.integers(1, 59), max_size=8),
    width=st.integers(2, 12),
    singles=st.booleans(),
)
def test_score_smoother_streaming_equals_one_batch_exactly(
    rows: list[tuple[str, float]], cuts: list[int], width: int, singles: bool
) -> None:
    keys = [r[0] for r in rows]
    scores = np.array([r[1] for r in rows])
    whole = ScoreSmoother(width, max_sensors=None).update(keys, scores)
    streaming = ScoreSmoother(width, max_sensors=3)
    if singles:  # the agent's one-reading path (float arithmetic) against the batch path
        bounds = list(range(len(rows) + 1))
    else:
        bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    parts = [streaming.update(keys[a:b], scores[a:b]) for a, b in itertools.pairwise(bounds)]
    assert np.concatenate(parts).tobytes() == whole.tobytes()
    # And it is the rolling mean it claims, first score padding a new sensor's window.
    first = keys[0]
    own = scores[[i for i, k in enumerate(keys) if k == first]]
    filled = np.array(own)
    for i in range(len(filled)):
        if np.isnan(filled[i]):
            filled[i] = filled[i - 1] if i else 0.0
    padded = np.concatenate([np.full(width - 1, filled[0]), filled])
    expected = [padded[i : i + width].mean() for i in range(len(filled))]
    got = whole[[i for i, k in enumerate(keys) if k == first]]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-6)


def test_score_smoother_forgets_the_least_recently_seen_sensor() -> None:
    smoother = ScoreSmoother(2, max_sensors=1)
    smoother.update(["x"], np.array([4.0]))
    smoother.update(["y"], np.array([8.0]))
    assert len(smoother) == 1
    np.testing.assert_array_equal(smoother.update(["x"], np.array([6.0])), [6.0])  # afresh


def test_score_smoother_of_width_one_passes_scores_through() -> None:
    scores = np.array([1.0, -2.0])
    assert ScoreSmoother(1).update(["x", "x"], scores) is scores
