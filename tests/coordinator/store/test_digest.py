"""digest_stored (the vectorised duplicate check) agrees with digest_row, reading by
reading, whatever metrics each stored reading happens to carry."""

from __future__ import annotations

from edgewatch.coordinator.store.digest import digest_batch, digest_row, digest_stored
from tests.support.coordinator import make_batch


def test_vectorised_stored_digests_equal_the_row_by_row_ones() -> None:
    rows = [
        ("s-1", "pump", 1.5, {"t": 20.0, "h": 0.0}, "normal", 0, 0.1, False, 0.9, "rules"),
        ("s-2", "pump", 2.5, {"t": -0.0}, None, None, None, True, 0.5, "onnx:pump@3"),
        ("s-1", "fan", 3.5, {}, "warning", 1, 0.7, True, 1.0, "rules"),
        ("s-3", "pump", 4.5, {"h": 55.5, "x": 1e300}, "normal", 0, 0.2, False, 0.8, "rules"),
    ]
    names = (
        "sensor_id",
        "sensor_type",
        "ts",
        "metrics",
        "status",
        "label",
        "score",
        "anomaly",
        "confidence",
        "scorer",
    )
    one_by_one = [digest_row(**dict(zip(names, r, strict=True))) for r in rows]  # type: ignore[arg-type]
    assert [int(d) for d in digest_stored(rows)] == one_by_one
    assert len(set(one_by_one)) == len(rows)
    assert list(digest_stored([])) == []


def test_a_stored_batch_digests_as_it_did_on_the_wire() -> None:
    batch = make_batch("a", 6)  # its last reading lacks vibration
    rows = [
        (
            batch.sensor_id[i],
            batch.sensor_type[i],
            batch.ts[i],
            {m: v[i] for m, v in batch.metrics.items() if v[i] is not None},
            batch.status[i],
            batch.label[i],
            batch.score[i],
            batch.anomaly[i],
            batch.confidence[i],
            batch.scorer[i],
        )
        for i in range(batch.size)
    ]
    assert list(digest_stored(rows)) == list(digest_batch(batch))
