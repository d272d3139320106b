"""CSV replay on SKAB- and NAB-style files written to tmp_path, and on broken ones.

The reader's own rules (roles, separators, each skip reason) are tested in
tests/shared/test_csvfile.py; this is the Source built on it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources import open_source
from edgewatch.agent.sources.csv_replay import CsvReplay
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import ReadingBatch

SKAB_HEADER = (
    "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;"
    "Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint"
)


def write_skab(path: Path, rows: int, first_anomaly: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [SKAB_HEADER]
    for i in range(rows):
        label = "1.0" if i >= first_anomaly else "0.0"
        change = "1.0" if i == first_anomaly else "0.0"
        values = f"0.0{i};0.27;2.4;0.05;{70 + i};24.3;229.6;32.0"
        lines.append(f"2020-03-09 10:14:{i:02d};{values};{label};{change}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_nab(path: Path, values: list[float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,value"]
    lines += [f"2014-04-01 00:{i * 5:02d}:00,{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def drain(source: CsvReplay, size: int = 1000) -> ReadingBatch:
    batches = []
    while (batch := source.poll(size)) is not None:
        batches.append(batch)
    return ReadingBatch.concat(batches)


def test_skab_file_columns_labels_and_original_times(tmp_path: Path) -> None:
    path = write_skab(tmp_path / "valve1" / "0.csv", rows=6, first_anomaly=4)
    source = CsvReplay([path], time_mode="original", sensor_type="pump")
    batch = drain(source)
    assert list(batch.metrics) == [
        "Accelerometer1RMS",
        "Accelerometer2RMS",
        "Current",
        "Pressure",
        "Temperature",
        "Thermocouple",
        "Voltage",
        "Volume Flow RateRMS",
    ]
    assert batch.label == [0, 0, 0, 0, 1, 1]
    assert batch.sensor_id == ["valve1-0"] * 6
    assert batch.sensor_type == ["pump"] * 6
    np.testing.assert_array_equal(batch.metrics["Temperature"], [70, 71, 72, 73, 74, 75])
    first = datetime(2020, 3, 9, 10, 14, 0, tzinfo=UTC).timestamp()
    np.testing.assert_array_equal(batch.ts, first + np.arange(6))
    assert source.skipped == {}


def test_nab_file_has_one_metric_and_no_labels(tmp_path: Path) -> None:
    path = write_nab(tmp_path / "realKnownCause" / "machine_temperature.csv", [1.5, 2.5, 3.5])
    batch = drain(CsvReplay([path], wall=lambda: 1.8e9))
    assert list(batch.metrics) == ["value"]
    assert batch.label == [None, None, None]
    assert batch.sensor_id == ["realKnownCause-machine_temperature"] * 3
    np.testing.assert_array_equal(batch.ts, [1.8e9] * 3)  # time_mode "now" re-stamps


def test_garbage_rows_are_skipped_and_counted_once_per_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "junk.csv"
    path.write_text(
        "timestamp,a,b,label\n"
        "2021-01-01T00:00:00,1,2,0\n"
        "2021-01-01T00:00:01,x,2,0\n"  # bad_number
        "2021-01-01T00:00:02,inf,2,0\n"  # non_finite
        "2021-01-01T00:00:03,nan,2,0\n"  # non_finite
        "2021-01-01T00:00:04,1,2\n"  # field_count
        "yesterday,1,2,0\n"  # bad_timestamp
        "2021-01-01T00:00:06,,,0\n"  # no_metrics
        "2021-01-01T00:00:07,1,2,7\n"  # bad_label
        "1609459208,3,,1\n"  # epoch seconds, b absent
        "\x00\xff,,\n",  # field_count
        encoding="latin-1",
    )
    with caplog.at_level(logging.WARNING, logger="edgewatch.shared.csvfile"):
        source = CsvReplay([path], time_mode="original")
    batch = drain(source)
    assert source.skipped == {
        "bad_number": 1,
        "non_finite": 2,
        "field_count": 2,
        "bad_timestamp": 1,
        "no_metrics": 1,
        "bad_label": 1,
    }
    assert caplog.text.count("non_finite") == 1
    assert batch.label == [0, 1]
    np.testing.assert_array_equal(batch.ts, [1609459200.0, 1609459208.0])
    assert np.isnan(batch.metrics["b"][1])


def test_files_interleave_round_robin_and_seek(tmp_path: Path) -> None:
    a = write_nab(tmp_path / "a" / "x.csv", [1.0, 2.0, 3.0])
    b = write_skab(tmp_path / "b" / "x.csv", rows=1, first_anomaly=9)
    c = write_nab(tmp_path / "c" / "x.csv", [10.0, 20.0])
    whole = drain(CsvReplay([a, b, c]))
    assert whole.sensor_id == ["a-x", "b-x", "c-x", "a-x", "c-x", "a-x"]
    np.testing.assert_array_equal(whole.metrics["value"][[0, 2, 3, 4, 5]], [1, 10, 2, 20, 3])
    assert np.isnan(whole.metrics["value"][1]) and np.isnan(whole.metrics["Current"][0])
    for size in (1, 7, 500):
        tail = drain(CsvReplay([a, b, c], start=2), size)
        assert tail.sensor_id == whole.sensor_id[2:]
        np.testing.assert_array_equal(tail.metrics["value"], whole.metrics["value"][2:])


def test_count_limits_the_stream(tmp_path: Path) -> None:
    path = write_nab(tmp_path / "n" / "v.csv", [float(i) for i in range(10)])
    source = CsvReplay([path], count=4, start=1)
    assert len(drain(source, 2)) == 3
    assert source.position == 4 and source.poll(5) is None


def test_same_sensor_id_gets_a_suffix(tmp_path: Path) -> None:
    a = write_nab(tmp_path / "d" / "s.csv", [1.0])
    b = write_nab(tmp_path / "d" / "s.csv.csv", [2.0])  # stem "s.csv" -> id "d-s.csv"
    c = write_nab(tmp_path / "e" / "d" / "s.csv", [3.0])
    ids = [s.sensor_id for s in CsvReplay([a, b, c]).sensors]
    assert ids == ["d-s", "d-s.csv", "d-s-2"]


def test_first_column_is_the_time_when_it_parses_as_time(tmp_path: Path) -> None:
    path = tmp_path / "when.csv"
    path.write_text("when\tpressure\n1609459200\t1.0\n1609459201\t2.0\n", encoding="utf-8")
    batch = drain(CsvReplay([path], time_mode="original"))
    assert list(batch.metrics) == ["pressure"]
    np.testing.assert_array_equal(batch.ts, [1609459200.0, 1609459201.0])


def test_unusable_files_raise_config_errors(tmp_path: Path) -> None:
    text_only = tmp_path / "t.csv"
    text_only.write_text("timestamp,name\n2021-01-01,abc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no numeric metric"):
        CsvReplay([text_only])
    with pytest.raises(ConfigError, match="cannot read"):
        CsvReplay([tmp_path / "missing.csv"])
    with pytest.raises(ConfigError, match="at least one"):
        CsvReplay([])
    with pytest.raises(ConfigError, match="sensor_type"):
        CsvReplay([text_only], sensor_type="bad type")


def test_pacing_by_rate(tmp_path: Path) -> None:
    path = write_nab(tmp_path / "n" / "v.csv", [float(i) for i in range(100)])
    now = [0.0]
    source = CsvReplay([path], rate=4.0, clock=lambda: now[0])
    assert len(source.poll(50) or []) == 1
    now[0] = 1.0
    assert len(source.poll(50) or []) == 4
    assert source.wait_hint() == pytest.approx(0.25)


def test_skips_add_up_over_files_and_bad_times_count_only_when_kept(tmp_path: Path) -> None:
    text = "timestamp,a\n2021-01-01T00:00:00,1\nyesterday,2\n2021-01-01T00:00:02,x\n"
    a = tmp_path / "a.csv"
    a.write_text(text, encoding="utf-8")
    b = tmp_path / "b.csv"
    b.write_text(text + "2021-01-01T00:00:03,4\n", encoding="utf-8")
    original = CsvReplay([a, b], time_mode="original")
    assert original.skipped == {"bad_timestamp": 2, "bad_number": 2}
    np.testing.assert_array_equal(drain(original).metrics["a"], [1, 1, 4])
    now = CsvReplay([a, b], time_mode="now")  # re-stamped: a row's own time does not matter
    assert now.skipped == {"bad_number": 2}
    np.testing.assert_array_equal(drain(now).metrics["a"], [1, 1, 2, 2, 4])


def test_a_file_without_times_warns_when_times_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("x\n1\n2\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="edgewatch.agent.sources.csv_replay"):
        batch = drain(CsvReplay([path], time_mode="original", wall=lambda: 1.7e9))
    assert "no time column" in caplog.text
    np.testing.assert_array_equal(batch.ts, [1.7e9, 1.7e9])


def test_open_source_builds_a_csv_replay(tmp_path: Path) -> None:
    path = write_nab(tmp_path / "n" / "v.csv", [1.0, 2.0, 3.0])
    settings = AgentSettings(source="csv", csv=[path], rate=0, sensor_type="nab", count=2)
    source = open_source(settings, start=1)
    batch = source.poll(10)
    assert batch is not None and batch.sensor_type == ["nab"]
    np.testing.assert_array_equal(batch.metrics["value"], [2.0])


def test_a_long_replay_logs_where_it_is_on_its_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    path = write_skab(tmp_path / "valve1" / "0.csv", rows=40, first_anomaly=30)
    replay = CsvReplay([path], clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="edgewatch.agent.sources.csv_replay"):
        assert replay.poll(10) is not None
        quiet = [r.getMessage() for r in caplog.records if "readings (" in r.getMessage()]
        now[0] = 31.0  # past PROGRESS_S
        assert replay.poll(10) is not None
        assert replay.poll(20) is not None
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CSV replay: ")]
    assert quiet == []
    assert "CSV replay: 20/40 readings (50%), 1/s, 31 s left" in lines
    assert lines[-1] == "CSV replay: all 40 readings sent in 31 s"
