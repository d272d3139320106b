"""shared.modelfile: the metadata of a model file and the checks on load."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edgewatch.shared import modelfile
from edgewatch.shared.errors import ModelError
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelfile import META_KEY, ModelMeta, parse_meta, read_model_bytes


def meta_fields(**changes: Any) -> dict[str, Any]:
    spec = FeatureSpec(("a", "b"), window=3, stats=("mean",), fill=(1.0, 2.0))
    fields: dict[str, Any] = {
        "sensor_type": "pump",
        "version": 7,
        "features": spec.to_dict(),
        "feature_names": list(spec.names),
        "threshold": 0.05,
        "smooth": 3,
        "n_trees": 50,
        "max_samples": 256,
        "offset": -0.5,
        "created_at": datetime(2026, 1, 2, tzinfo=UTC),
        "training": {
            "rows": 400,
            "sensors": 2,
            "feature_mean": [0.0] * 4,
            "feature_std": [1.0] * 4,
            "score_quantiles": [-0.2, -0.1, 0.0, 0.1],
        },
    }
    return fields | changes


def props_of(**changes: Any) -> dict[str, str]:
    return {META_KEY: json.dumps(meta_fields(**changes), default=str)}


def test_meta_round_trips_through_metadata_props() -> None:
    meta = ModelMeta(**meta_fields())
    props = meta.to_props()
    assert list(props) == [META_KEY]
    back = parse_meta(props)
    assert back == meta
    assert back.spec == FeatureSpec(("a", "b"), window=3, stats=("mean",), fill=(1.0, 2.0))


def test_first_release_files_are_still_read() -> None:
    v1 = meta_fields(format="edgewatch.iforest/1")
    meta = parse_meta({META_KEY: json.dumps(v1, default=str)})
    assert meta.detector == "iforest" and meta.policy.kind == "static"


def test_version_2_records_detector_and_policy() -> None:
    fields = meta_fields(
        format="edgewatch.model/2",  # as the previous release wrote it
        detector="pca",
        n_trees=None,
        max_samples=None,
        offset=None,
        components=3,
        policy={"kind": "adaptive", "k": 3.0, "refractory": 200, "start_var": 0.5},
    )
    meta = parse_meta({META_KEY: json.dumps(fields, default=str)})
    assert meta.format == "edgewatch.model/2" and meta.detector == "pca"
    assert meta.policy.kind == "adaptive" and meta.policy.refractory == 200
    assert parse_meta(meta.to_props()) == meta


def knn_fields(**changes: Any) -> dict[str, Any]:
    forestless = {"n_trees": None, "max_samples": None, "offset": None}
    return meta_fields(detector="knn", references=400, scales=[5, 10], **forestless) | changes


def test_version_3_records_knn_univariate_and_clip() -> None:
    policy = {"kind": "adaptive", "k": 3.0, "refractory": 100, "clip": 3.0}
    meta = parse_meta({META_KEY: json.dumps(knn_fields(policy=policy), default=str)})
    assert meta.format == "edgewatch.model/3" and meta.detector == "knn"
    assert meta.references == 400 and meta.scales == [5, 10] and meta.policy.clip == 3.0
    assert parse_meta(meta.to_props()) == meta
    pca = meta_fields(detector="pca", univariate=True, components=2)
    assert parse_meta({META_KEY: json.dumps(pca, default=str)}).univariate is True


@pytest.mark.parametrize(
    "fields",
    [
        knn_fields(format="edgewatch.model/2"),
        meta_fields(format="edgewatch.model/2", detector="pca", univariate=True),
        meta_fields(format="edgewatch.model/2", policy={"kind": "adaptive", "clip": 3.0}),
        knn_fields(references=None),
        meta_fields(policy={"kind": "adaptive", "clip": 0.0}),
    ],
    ids=["v2-knn", "v2-univariate", "v2-clip", "knn-without-references", "clip-zero"],
)
def test_fields_newer_than_the_files_format_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ModelError):
        parse_meta({META_KEY: json.dumps(fields, default=str)})


@pytest.mark.parametrize(
    "changes",
    [
        {"format": "edgewatch.iforest/1", "detector": "pca"},
        {"format": "edgewatch.iforest/1", "policy": {"kind": "adaptive"}},
        {"detector": "iforest", "n_trees": None},
        {"detector": "lstm"},
        {"policy": {"kind": "adaptive", "alpha": 1.5}},
    ],
    ids=["v1-pca", "v1-adaptive", "forest-fields", "unknown-detector", "alpha"],
)
def test_inconsistent_detector_fields_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ModelError):
        parse_meta({META_KEY: json.dumps(meta_fields(**changes), default=str)})


def test_model_without_our_metadata_is_refused() -> None:
    with pytest.raises(ModelError, match="not an edgewatch model"):
        parse_meta({"other": "x"})


@pytest.mark.parametrize(
    "props",
    [
        {META_KEY: "{not json"},
        props_of(version=0),
        props_of(sensor_type="bad type/!"),
        props_of(format="someone-else/1"),
        props_of(unexpected=1),
        props_of(feature_names=["a", "b", "a:mean@3"]),
        props_of(features={"metrics": ["a"], "window": 0}),
        props_of(training={**meta_fields()["training"], "score_quantiles": [0.1, -0.1]}),
        props_of(training={**meta_fields()["training"], "feature_std": [1.0]}),
    ],
    ids=["json", "version", "type", "format", "extra", "names", "spec", "quantiles", "summary"],
)
def test_malformed_metadata_raises_model_error(props: dict[str, str]) -> None:
    with pytest.raises(ModelError):
        parse_meta(props)


def test_non_finite_threshold_is_refused() -> None:
    raw = json.dumps(meta_fields(), default=str).replace('"threshold": 0.05', '"threshold": NaN')
    with pytest.raises(ModelError):
        parse_meta({META_KEY: raw})


def test_read_model_bytes_hashes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x0aabc")
    got = read_model_bytes(path)
    assert got.data == b"\x08\x0aabc"
    assert got.sha256 == hashlib.sha256(b"\x08\x0aabc").hexdigest()
    assert got.source == str(path)


def test_missing_file_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        read_model_bytes(tmp_path / "absent.onnx")


def test_oversized_model_is_refused_before_reading(tmp_path: Path) -> None:
    too_big = b"x" * (modelfile.MAX_FILE_BYTES + 1)
    path = tmp_path / "big.onnx"
    path.write_bytes(too_big)
    with pytest.raises(ModelError, match="larger than"):
        read_model_bytes(path)
    with pytest.raises(ModelError, match="larger than"):
        read_model_bytes(too_big)
