"""Flatten a fitted StandardScaler + IsolationForest into tree-ensemble arrays.

The arrays follow the layout of the ONNX ``ai.onnx.ml`` ``TreeEnsemble`` operator
(opset 5): interior nodes carry a feature, a split and two children, each child either
another interior node or a leaf; leaves carry one weight. Two things are folded in:

- **leaf weight = path length**: ``depth + c(n)``, where ``c(n)`` is the average path
  length of an unsuccessful search in a binary search tree of the ``n`` training samples
  that reached the leaf; summed over trees this is what scikit-learn's ``score_samples``
  exponentiates.
- **the scaler**: scikit-learn tests ``x_scaled <= t``; with ``scale > 0`` that is
  ``x <= t * scale + mean`` on the raw value, so the graph needs no scaling nodes.

One subtlety: scikit-learn casts ``x_scaled`` to float32 before comparing it with the
float64 threshold ``t``. ``float32(x) <= t`` holds exactly when ``x`` lies at or below
the midpoint between the largest float32 ``<= t`` and the float32 after it, so that
midpoint (exact in float64) is the threshold we fold. The graph then compares float64
inputs with float64 splits and agrees with scikit-learn bit for bit, up to ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from edgewatch.shared.readings import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ForestArrays:
    """One forest as flat TreeEnsemble arrays (``nodes_*`` for interior nodes, ``leaf_*``)."""

    tree_roots: IntArray
    nodes_featureids: IntArray
    nodes_splits: FloatArray
    nodes_truenodeids: IntArray
    nodes_trueleafs: IntArray
    nodes_falsenodeids: IntArray
    nodes_falseleafs: IntArray
    leaf_weights: FloatArray


def average_path_length(n: npt.NDArray[np.int64] | FloatArray) -> FloatArray:
    """``c(n)``, exactly as scikit-learn's ``_average_path_length`` computes it."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def float32_boundary(t: FloatArray) -> FloatArray:
    """The float64 ``b`` with ``x <= b  <=>  float32(x) <= t`` (up to a tie at ``b``)."""
    low = t.astype(np.float32)
    low = np.where(low.astype(np.float64) > t, np.nextafter(low, np.float32(-np.inf)), low)
    high = np.nextafter(low, np.float32(np.inf))
    return (low.astype(np.float64) + high.astype(np.float64)) / 2.0


def flatten_forest(forest: IsolationForest, scaler: StandardScaler) -> ForestArrays:
    """The forest's trees as TreeEnsemble arrays, the scaler folded into the splits."""
    n_features = int(scaler.n_features_in_)
    # scikit-learn only indexes columns per tree when it subsampled features.
    remap = forest._max_features != n_features
    parts: list[_TreeArrays] = []
    nodes = leaves = 0
    for tree, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
        column = np.asarray(features, dtype=np.int64) if remap else None
        part = _flatten_tree(tree.tree_, column, nodes, leaves)
        parts.append(part)
        nodes += len(part.featureids)
        leaves += len(part.weights)
    featureids = np.concatenate([p.featureids for p in parts])
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    boundary = float32_boundary(np.concatenate([p.splits for p in parts]))
    return ForestArrays(
        tree_roots=np.array([p.root for p in parts], dtype=np.int64),
        nodes_featureids=featureids,
        nodes_splits=boundary * scale[featureids] + mean[featureids],
        nodes_truenodeids=np.concatenate([p.true_ids for p in parts]),
        nodes_trueleafs=np.concatenate([p.true_leafs for p in parts]),
        nodes_falsenodeids=np.concatenate([p.false_ids for p in parts]),
        nodes_falseleafs=np.concatenate([p.false_leafs for p in parts]),
        leaf_weights=np.concatenate([p.weights for p in parts]),
    )


@dataclass(frozen=True, slots=True)
class _TreeArrays:
    root: int
    featureids: IntArray
    splits: FloatArray  # in scaled units, as scikit-learn stores them
    true_ids: IntArray
    true_leafs: IntArray
    false_ids: IntArray
    false_leafs: IntArray
    weights: FloatArray


def _flatten_tree(tree: object, column: IntArray | None, node0: int, leaf0: int) -> _TreeArrays:
    left = np.asarray(tree.children_left, dtype=np.int64)  # type: ignore[attr-defined]
    right = np.asarray(tree.children_right, dtype=np.int64)  # type: ignore[attr-defined]
    feature = np.asarray(tree.feature, dtype=np.int64)  # type: ignore[attr-defined]
    threshold = np.asarray(tree.threshold, dtype=np.float64)  # type: ignore[attr-defined]
    samples = np.asarray(tree.n_node_samples, dtype=np.int64)  # type: ignore[attr-defined]
    depth = np.asarray(tree.compute_node_depths(), dtype=np.float64) - 1.0  # type: ignore[attr-defined]
    is_leaf = left == -1
    inner = np.flatnonzero(~is_leaf)
    leaf = np.flatnonzero(is_leaf)
    weights = depth[leaf] + average_path_length(samples[leaf])
    if len(inner) == 0:
        # A one-leaf tree (constant training data): TreeEnsemble wants an interior root,
        # so route both branches of a dummy split to the leaf.
        one = np.ones(1, dtype=np.int64)
        ids = np.full(1, leaf0, dtype=np.int64)
        return _TreeArrays(node0, one * 0, np.zeros(1), ids, one, ids, one, weights)
    position = np.empty(len(left), dtype=np.int64)
    position[inner] = node0 + np.arange(len(inner))
    position[leaf] = leaf0 + np.arange(len(leaf))
    features = feature[inner] if column is None else column[feature[inner]]
    return _TreeArrays(
        root=int(position[0]),
        featureids=features,
        splits=threshold[inner],
        true_ids=position[left[inner]],
        true_leafs=is_leaf[left[inner]].astype(np.int64),
        false_ids=position[right[inner]],
        false_leafs=is_leaf[right[inner]].astype(np.int64),
        weights=weights,
    )
