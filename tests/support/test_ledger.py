"""The ledger on synthetic stores with known losses, duplicates and reorders."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from edgewatch.shared.readings import ReadingBatch
from tests.support.ledger import (
    ContentKey,
    LedgerReport,
    check_store,
    content_key,
    keys_from_batches,
)

EPOCH = 7_000_001
# The coordinator's table, as issue 2 specifies it (the ledger reads only some columns).
SCHEMA = """
CREATE TABLE readings (
    agent_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    sensor_id TEXT NOT NULL, sensor_type TEXT NOT NULL, ts REAL NOT NULL,
    metrics TEXT NOT NULL, status TEXT, label INTEGER, score REAL, anomaly INTEGER,
    confidence REAL, scorer TEXT, stored_at REAL NOT NULL,
    PRIMARY KEY (agent_id, epoch, seq)
)
"""
Reading = tuple[str, dict[str, float | None]]
Row = tuple[str, int, int, Reading]  # agent_id, epoch, seq, reading


def _generated(n: int = 10) -> list[Reading]:
    """Two sensors taking turns, values unique per reading."""
    return [(f"s{i % 2}", {"temperature": 20.0 + i * 0.1, "humidity": 40.0 + i}) for i in range(n)]


def _keys(readings: Sequence[Reading]) -> list[ContentKey]:
    return [content_key(sensor, metrics) for sensor, metrics in readings]


def _store(path: Path, rows: Sequence[Row]) -> Path:
    """Write ``(agent_id, epoch, seq, reading)`` rows; ``stored_at`` follows row order."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(SCHEMA)
        for i, (agent_id, epoch, seq, (sensor, metrics)) in enumerate(rows):
            conn.execute(
                "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (agent_id, epoch, seq, sensor, "industrial", 1.7e9 + seq, json.dumps(metrics),
                 "normal", 0, 0.1, 0, 0.5, "rules", 1000.0 + i),
            )  # fmt: skip
    conn.close()
    return path


def _in_order(readings: Sequence[Reading], agent: str = "a1", epoch: int = EPOCH) -> list[Row]:
    return [(agent, epoch, seq, r) for seq, r in enumerate(readings)]


def test_everything_stored_once_is_clean(tmp_path: Path) -> None:
    gen = _generated()
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", _in_order(gen)))
    assert report == LedgerReport(
        generated=10, stored=10, lost=0, duplicates=0, reordered_within_sensor=0,
        dropped_reported=0, unexpected=0, missing=0,
    )  # fmt: skip
    report.assert_clean()


def test_lost_readings_are_counted_and_fail_the_check(tmp_path: Path) -> None:
    gen = _generated()
    rows = [row for row in _in_order(gen) if row[2] not in (3, 4, 8)]
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", rows))
    assert (report.lost, report.missing, report.stored) == (3, 3, 7)
    assert report.missing_indices("a1") == (3, 4, 8)
    with pytest.raises(AssertionError, match="3 lost") as failure:
        report.assert_clean()
    assert "missing a1: 3 readings, first #3, #4, #8" in str(failure.value)


def test_drops_reported_by_the_outbox_are_not_losses(tmp_path: Path) -> None:
    gen = _generated()
    rows = _in_order(gen)[4:]  # drop-oldest took the first four
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", rows), dropped_reported=4)
    assert (report.lost, report.missing, report.dropped_reported) == (0, 4, 4)
    assert report.missing_indices("a1") == (0, 1, 2, 3)
    report.assert_clean()


def test_more_drops_reported_than_missing_is_not_clean(tmp_path: Path) -> None:
    gen = _generated()
    report = check_store(
        {"a1": _keys(gen)}, _store(tmp_path / "c.db", _in_order(gen)), dropped_reported=2
    )
    assert report.lost == 0
    with pytest.raises(AssertionError, match="2 reported dropped but stored anyway"):
        report.assert_clean()


def test_same_reading_under_a_new_epoch_is_a_duplicate(tmp_path: Path) -> None:
    # The outbox was recreated after readings 6..9 were sent and it re-sent them.
    gen = _generated()
    rows = _in_order(gen) + _in_order(gen[6:], epoch=3)
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", rows))
    assert (report.duplicates, report.lost, report.stored) == (4, 0, 14)
    assert report.reordered_within_sensor == 0, "a re-sent copy is a duplicate, not a reorder"
    with pytest.raises(AssertionError, match="4 stored twice"):
        report.assert_clean()


def test_swapped_sequence_numbers_are_a_reorder(tmp_path: Path) -> None:
    gen = _generated()
    numbered = list(gen)
    numbered[2], numbered[4] = numbered[4], numbered[2]  # both are sensor s0
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", _in_order(numbered)))
    assert (report.reordered_within_sensor, report.lost, report.duplicates) == (1, 0, 0)
    with pytest.raises(AssertionError, match="1 reordered within a sensor"):
        report.assert_clean()


def test_interleaving_of_different_sensors_is_not_a_reorder(tmp_path: Path) -> None:
    gen = _generated()
    numbered = list(gen)
    numbered[2], numbered[3] = numbered[3], numbered[2]  # s0 and s1 swap places
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", _in_order(numbered)))
    report.assert_clean()


def test_epochs_are_ordered_by_arrival_not_by_their_random_value(tmp_path: Path) -> None:
    gen = _generated()
    rows = _in_order(gen[:5], epoch=900) + _in_order(gen[5:], epoch=12)
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", rows))
    report.assert_clean()


def test_rows_nobody_generated_are_unexpected(tmp_path: Path) -> None:
    gen = _generated()
    stranger: Reading = ("s0", {"temperature": -1.0})
    rows = [*_in_order(gen), ("a1", EPOCH, 10, stranger), ("ghost", 1, 0, gen[0])]
    report = check_store({"a1": _keys(gen)}, _store(tmp_path / "c.db", rows))
    assert (report.unexpected, report.duplicates, report.lost) == (2, 0, 0)
    with pytest.raises(AssertionError, match="2 unexpected rows"):
        report.assert_clean()


def test_agents_are_reconciled_separately(tmp_path: Path) -> None:
    gen = _generated()
    rows = _in_order(gen, "a1") + _in_order(gen[:7], "a2")
    report = check_store({"a1": _keys(gen), "a2": _keys(gen)}, _store(tmp_path / "c.db", rows))
    assert (report.generated, report.stored, report.lost) == (20, 17, 3)
    assert report.missing_indices("a1") == ()
    assert report.missing_indices("a2") == (7, 8, 9)


def test_keys_from_reading_batches_match_stored_json(tmp_path: Path) -> None:
    batch = ReadingBatch(
        sensor_id=["s0", "s1"],
        sensor_type=["industrial", "industrial"],
        ts=np.array([1.7e9, 1.7e9 + 1]),
        metrics={"temperature": np.array([21.5, 22.25]), "vibration": np.array([np.nan, 0.3])},
    )
    keys = keys_from_batches([batch])
    # On the wire an absent metric is null; in a batch it is NaN: same reading.
    stored: list[Reading] = [
        ("s0", {"temperature": 21.5, "vibration": None}),
        ("s1", {"temperature": 22.25, "vibration": 0.3}),
    ]
    check_store({"a1": keys}, _store(tmp_path / "c.db", _in_order(stored))).assert_clean()
    assert keys[0] == ("s0", (("temperature", 21.5),))


def test_store_is_opened_read_only(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        check_store({"a1": []}, tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()
