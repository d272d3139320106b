"""Export a trained model to the compact ONNX graph the agent scores with.

Every detector kind becomes one graph with the same contract (``features`` float64
``[N, F]`` -> ``score`` float64 ``[N, 1]``); PCA, autoencoder and nearest-neighbour
graphs are in ``graphs``.
The IsolationForest graph::

    features ─ TreeEnsemble (ai.onnx.ml v5, SUM of leaf path lengths) ─ path_sum
             ─ Mul(-ln 2 / (T·c(max_samples))) ─ Exp ─ Add(offset_) ─ score

scikit-learn's ``score_samples`` is ``-2 ** (-path_sum / (T·c(max_samples)))`` and
``decision_function`` is ``score_samples - offset_``, so ``score`` is exactly
``-decision_function``: higher means more anomalous, and ``score > 0`` is scikit-learn's
own outlier verdict. One tree-ensemble node instead of ~27 nodes per tree (skl2onnx's
stock conversion) is what makes a single-row call tens of microseconds.

float64 end to end: the splits are folded float64 values (see ``forest``), and a float32
input would round readings onto the wrong side of a split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgewatch.coordinator.models.autoencoder import AutoencoderDetector
from edgewatch.coordinator.models.forest import ForestArrays, average_path_length, flatten_forest
from edgewatch.coordinator.models.graphs import autoencoder_graph, knn_graph, pca_graph
from edgewatch.coordinator.models.knn import KnnDetector
from edgewatch.coordinator.models.pca import PcaDetector
from edgewatch.coordinator.models.trainer import TrainedModel
from edgewatch.shared.modelfile import INPUT_NAME, OUTPUT_NAME

IR_VERSION = 10  # onnxruntime 1.31 reads IR <= 11; 10 keeps older runtimes happy too
OPSETS = {"": 21, "ai.onnx.ml": 5}
BRANCH_LEQ = 0  # scikit-learn sends x <= threshold to the left (true) child
AGGREGATE_SUM = 1


def build_graph(
    arrays: ForestArrays, n_features: int, scale: float, offset: float
) -> onnx.ModelProto:
    """The scoring graph for ``arrays``: ``score = exp(scale * path_sum) + offset``."""
    n_nodes = len(arrays.nodes_featureids)
    ensemble = helper.make_node(
        "TreeEnsemble",
        [INPUT_NAME],
        ["path_sum"],
        domain="ai.onnx.ml",
        aggregate_function=AGGREGATE_SUM,
        post_transform=0,
        n_targets=1,
        tree_roots=arrays.tree_roots.tolist(),
        nodes_featureids=arrays.nodes_featureids.tolist(),
        nodes_splits=numpy_helper.from_array(arrays.nodes_splits.astype(np.float64)),
        nodes_modes=numpy_helper.from_array(np.full(n_nodes, BRANCH_LEQ, dtype=np.uint8)),
        nodes_truenodeids=arrays.nodes_truenodeids.tolist(),
        nodes_trueleafs=arrays.nodes_trueleafs.tolist(),
        nodes_falsenodeids=arrays.nodes_falsenodeids.tolist(),
        nodes_falseleafs=arrays.nodes_falseleafs.tolist(),
        leaf_targetids=[0] * len(arrays.leaf_weights),
        leaf_weights=numpy_helper.from_array(arrays.leaf_weights.astype(np.float64)),
    )
    constants = [
        numpy_helper.from_array(np.array(scale, dtype=np.float64), "neg_ln2_over_norm"),
        numpy_helper.from_array(np.array(offset, dtype=np.float64), "offset"),
    ]
    graph = helper.make_graph(
        [
            ensemble,
            helper.make_node("Mul", ["path_sum", "neg_ln2_over_norm"], ["exponent"]),
            helper.make_node("Exp", ["exponent"], ["power"]),
            helper.make_node("Add", ["power", "offset"], [OUTPUT_NAME]),
        ],
        "edgewatch_iforest",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.DOUBLE, [None, n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, [None, 1])],
        initializer=constants,
    )
    opsets = [helper.make_opsetid(domain, version) for domain, version in OPSETS.items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="edgewatch")
    model.ir_version = IR_VERSION
    return model


def forest_graph(trained: TrainedModel) -> onnx.ModelProto:
    forest = trained.forest
    norm = len(forest.estimators_) * float(average_path_length(np.array([forest.max_samples_]))[0])
    scale = -np.log(2.0) / norm if norm > 0 else 0.0
    arrays = flatten_forest(forest, trained.scaler)
    return build_graph(arrays, len(trained.spec.names), scale, float(forest.offset_))


def to_onnx(trained: TrainedModel) -> onnx.ModelProto:
    """The model file for ``trained``, metadata included, checked by ``onnx.checker``."""
    width = len(trained.spec.names)
    detector = trained.detector
    if isinstance(detector, PcaDetector):
        model = pca_graph(detector, width)
    elif isinstance(detector, AutoencoderDetector):
        model = autoencoder_graph(detector, width)
    elif isinstance(detector, KnnDetector):
        model = knn_graph(detector, width)
    else:
        model = forest_graph(trained)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in OPSETS.items())
    model.ir_version = IR_VERSION
    helper.set_model_props(model, trained.meta().to_props())
    onnx.checker.check_model(model)
    return model


def export_model(trained: TrainedModel, path: Path) -> int:
    """Write ``trained`` to ``path`` (atomically: temp file, then rename); returns bytes."""
    data = to_onnx(trained).SerializeToString()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)
