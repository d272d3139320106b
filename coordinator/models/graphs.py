"""ONNX graphs of the PCA and autoencoder detectors (float64, a handful of nodes each).

PCA (``features`` ``[N, F]`` -> ``score`` ``[N, 1]``)::

    z  = features · inv_scale − shift          Mul, Sub   (scaler and PCA mean folded)
    t  = z · Pᵀ                                MatMul     (scores in the normal subspace)
    T² = Σ t² · (1/λ) / T²_ref                 Mul, Mul, ReduceSum, Mul
    Q  = Σ (z − t · P)² / Q_ref                MatMul, Sub, Mul, ReduceSum, Mul
    Z  = max_j z_j² / Z_ref                    Mul, ReduceMax, Mul  (``univariate`` only)
    score = max(T², Q[, Z])                    Max

Autoencoder: ``z`` as above, then per layer ``MatMul, Add`` (``Tanh`` on hidden layers),
``score = mean((out − z)²) / ref`` (``Sub, Mul, ReduceMean, Mul``).

Nearest neighbour, per scale ``s`` (its columns ``c_s``, references ``T_s``)::

    z_s = Gather(z, c_s)                                   (skipped if all columns)
    d²  = min_j (z_s · (−2 T_sᵀ) + |t_j|²) + |z_s|²         Gemm, ReduceMin, Mul, ReduceSum, Add
    d_s = sqrt(max(d², 0)) / ref_s                         Max, Sqrt, Mul
    score = max_s d_s                                      Max

Every initializer is float64, like the inputs, so the graph computes what the numpy
reference (``pca.PcaDetector.scores``, ``autoencoder.AutoencoderDetector.scores``) does,
up to the order of floating-point sums inside MatMul.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgewatch.coordinator.models.autoencoder import AutoencoderDetector
from edgewatch.coordinator.models.knn import KnnDetector
from edgewatch.coordinator.models.pca import PcaDetector
from edgewatch.shared.modelfile import INPUT_NAME, OUTPUT_NAME
from edgewatch.shared.readings import FloatArray


class _Graph:
    """Collects nodes and float64 initializers under generated names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: FloatArray | float | list[int]) -> str:
        if isinstance(value, list):
            array = np.asarray(value, dtype=np.int64)
        else:
            array = np.asarray(value, dtype=np.float64)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def model(self, name: str, n_features: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.DOUBLE, [None, n_features])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, [None, 1])],
            initializer=self.inits,
        )
        return helper.make_model(graph, producer_name="edgewatch")


def _standardise(g: _Graph, inv_scale: FloatArray, shift: FloatArray) -> str:
    scaled = g.op("Mul", [INPUT_NAME, g.const("inv_scale", inv_scale)], "scaled")
    return g.op("Sub", [scaled, g.const("shift", shift)], "z")


def pca_graph(detector: PcaDetector, n_features: int) -> onnx.ModelProto:
    g = _Graph()
    s = detector.scaling
    z = _standardise(g, s.inv_scale, s.shift(detector.centre))
    axes = g.const("axes", [1])
    t = g.op("MatMul", [z, g.const("components_t", detector.components.T.copy())], "t")
    t_sq = g.op("Mul", [t, t], "t_sq")
    weighted = g.op("Mul", [t_sq, g.const("inv_eigen", 1.0 / detector.eigenvalues)], "t_w")
    t2 = g.op("ReduceSum", [weighted, axes], "t2", keepdims=1)
    t2n = g.op("Mul", [t2, g.const("inv_t2_ref", 1.0 / detector.t2_ref)], "t2n")
    rec = g.op("MatMul", [t, g.const("components", detector.components)], "reconstructed")
    r = g.op("Sub", [z, rec], "residual")
    r_sq = g.op("Mul", [r, r], "r_sq")
    q = g.op("ReduceSum", [r_sq, axes], "q", keepdims=1)
    qn = g.op("Mul", [q, g.const("inv_q_ref", 1.0 / detector.q_ref)], "qn")
    parts = [t2n, qn]
    if detector.z_ref is not None:
        z_sq = g.op("Mul", [z, z], "z_sq")
        z_max = g.op("ReduceMax", [z_sq, axes], "z_max", keepdims=1)
        parts.append(g.op("Mul", [z_max, g.const("inv_z_ref", 1.0 / detector.z_ref)], "zn"))
    g.op("Max", parts, OUTPUT_NAME)
    return g.model("edgewatch_pca", n_features)


def autoencoder_graph(detector: AutoencoderDetector, n_features: int) -> onnx.ModelProto:
    g = _Graph()
    s = detector.scaling
    z = _standardise(g, s.inv_scale, s.shift())
    h = z
    last = len(detector.weights) - 1
    for i, (w, b) in enumerate(zip(detector.weights, detector.biases, strict=True)):
        h = g.op("MatMul", [h, g.const(f"w{i}", w)], f"mm{i}")
        h = g.op("Add", [h, g.const(f"b{i}", b)], f"lin{i}")
        if i < last:
            h = g.op("Tanh", [h], f"h{i}")
    d = g.op("Sub", [h, z], "diff")
    d_sq = g.op("Mul", [d, d], "diff_sq")
    mse = g.op("ReduceMean", [d_sq, g.const("axes", [1])], "mse", keepdims=1)
    g.op("Mul", [mse, g.const("inv_ref", 1.0 / detector.ref)], OUTPUT_NAME)
    return g.model("edgewatch_autoencoder", n_features)


def knn_graph(detector: KnnDetector, n_features: int) -> onnx.ModelProto:
    g = _Graph()
    s = detector.scaling
    z = _standardise(g, s.inv_scale, s.shift())
    axes = g.const("axes", [1])
    zero = g.const("zero", 0.0)
    parts = []
    for i, scale in enumerate(detector.scales):
        zs = z
        if list(scale.columns) != list(range(n_features)):
            zs = g.op("Gather", [z, g.const(f"cols{i}", list(scale.columns))], f"z{i}", axis=1)
        gemm = [zs, g.const(f"neg2t{i}", scale.neg_twice_t), g.const(f"norms{i}", scale.norms)]
        near = g.op("ReduceMin", [g.op("Gemm", gemm, f"g{i}"), axes], f"min{i}", keepdims=1)
        own = g.op("ReduceSum", [g.op("Mul", [zs, zs], f"zz{i}"), axes], f"zn{i}", keepdims=1)
        d2 = g.op("Max", [g.op("Add", [near, own], f"d2_{i}"), zero], f"d2p{i}")
        d = g.op("Sqrt", [d2], f"d{i}")
        parts.append(g.op("Mul", [d, g.const(f"inv_ref{i}", 1.0 / scale.ref)], f"s{i}"))
    if len(parts) == 1:
        g.op("Identity", parts, OUTPUT_NAME)
    else:
        g.op("Max", parts, OUTPUT_NAME)
    return g.model("edgewatch_knn", n_features)
