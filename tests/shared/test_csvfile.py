"""shared.csvfile: the one CSV reader, on real files in tmp_path (good, odd and broken)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edgewatch.shared.csvfile import (
    metric_name_of,
    parse_time,
    read_csv,
    sensor_id_of,
    sniff_separator,
)
from edgewatch.shared.errors import ConfigError

SKAB_HEADER = (
    "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;"
    "Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint"
)
SKAB_METRICS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
T0 = datetime(2021, 1, 1, tzinfo=UTC).timestamp()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def good_rows(n: int = 5, sep: str = ",") -> list[str]:
    return [sep.join([f"2021-01-01T00:00:{i:02d}", f"{i}.5", str(10 * i), "0"]) for i in range(n)]


def test_skab_header_roles_labels_and_changepoint(tmp_path: Path) -> None:
    rows = [
        f"2020-03-09 10:14:{i:02d};0.02{i};0.04;1.3;0.05;{79 + i};26.0;233.0;32.0;"
        f"{1.0 if i >= 3 else 0.0};{1.0 if i == 3 else 0.0}"
        for i in range(5)
    ]
    table = read_csv(write(tmp_path / "valve1" / "0.csv", "\n".join([SKAB_HEADER, *rows])))
    assert table.metric_names == SKAB_METRICS  # changepoint is not a metric
    assert table.sensor_id == "valve1-0"
    assert table.labelled and table.timed
    assert table.label == [0, 0, 0, 1, 1]
    np.testing.assert_array_equal(table.metrics["Temperature"], [79, 80, 81, 82, 83])
    first = datetime(2020, 3, 9, 10, 14, tzinfo=UTC).timestamp()
    np.testing.assert_array_equal(table.ts, first + np.arange(5))
    assert table.skipped == {}


def test_nab_header_one_metric_no_labels(tmp_path: Path) -> None:
    text = "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2.5\n"
    table = read_csv(write(tmp_path / "realKnownCause" / "machine_temperature.csv", text))
    assert table.metric_names == ("value",)
    assert table.label == [None, None] and not table.labelled
    assert table.sensor_id == "realKnownCause-machine_temperature"
    assert table.ts[1] - table.ts[0] == 300.0


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_separator_is_sniffed_from_the_header(tmp_path: Path, sep: str) -> None:
    text = sep.join(["timestamp", "a", "b", "label"]) + "\n" + "\n".join(good_rows(sep=sep))
    table = read_csv(write(tmp_path / "s.csv", text))
    assert table.metric_names == ("a", "b")
    np.testing.assert_array_equal(table.metrics["b"], [0, 10, 20, 30, 40])


def test_given_separator_overrides_the_sniffed_one(tmp_path: Path) -> None:
    # The header has more commas than semicolons; the file is really ';'-separated.
    path = write(tmp_path / "s.csv", "ts;flow,l/min;p\n1609459200;1,5;2\n1609459201;2,5;3\n")
    assert read_csv(path).metric_names != ("flow_l/min", "p")
    table = read_csv(path, sep=";")
    assert table.metric_names == ("p",)  # "1,5" is not a number: not a numeric column
    np.testing.assert_array_equal(table.metrics["p"], [2.0, 3.0])


ROW_CASES = {
    # reason: (a bad row, whether it is skipped only when times are needed)
    "field_count": ("2021-01-01T00:00:09,1,2", False),
    "bad_number": ("2021-01-01T00:00:09,x,2,0", False),
    "non_finite": ("2021-01-01T00:00:09,inf,2,0", False),
    "no_metrics": ("2021-01-01T00:00:09,,,0", False),
    "bad_label": ("2021-01-01T00:00:09,1,2,7", False),
    "bad_timestamp": ("yesterday,1,2,0", True),
    "ts_range": ("1990-01-01T00:00:00,1,2,0", True),
    "malformed": ("2021-01-01T00:00:09," + "1" * 200_000 + ",2,0", False),  # field too large
}


@pytest.mark.parametrize("reason", sorted(ROW_CASES))
def test_each_bad_row_is_skipped_and_counted_by_reason(tmp_path: Path, reason: str) -> None:
    bad, only_with_time = ROW_CASES[reason]
    rows = good_rows()
    path = write(tmp_path / "r.csv", "\n".join(["timestamp,a,b,label", *rows[:2], bad, *rows[2:]]))
    strict = read_csv(path, need_time=True)
    assert strict.skipped == {reason: 1}
    assert len(strict) == 5 and strict.label == [0] * 5
    lenient = read_csv(path)
    if only_with_time:  # kept, with no time, when the file's times are not used
        assert lenient.skipped == {} and len(lenient) == 6
        assert np.isnan(lenient.ts[2]) and np.isfinite(np.delete(lenient.ts, 2)).all()
    else:
        assert lenient.skipped == {reason: 1} and len(lenient) == 5


def test_absent_and_present_values(tmp_path: Path) -> None:
    text = "timestamp,a,b,label\n1609459200,1,,1\n2021-01-01T00:00:01+00:00,nan,2,\n"
    table = read_csv(write(tmp_path / "v.csv", text))
    assert table.skipped == {"non_finite": 1}  # "nan" written out is refused ...
    assert np.isnan(table.metrics["b"][0])  # ... an empty cell is an absent metric
    assert table.label == [1] and table.ts[0] == T0


def test_skipped_rows_warn_once_per_reason_with_count_and_first_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = ["timestamp,a,b", "1609459200,1,2", "1609459201,x,2", "1609459202,y,2", "1,2"]
    rows += [f"{1609459203 + i},{i},2" for i in range(5)]  # "a" is still mostly numbers
    with caplog.at_level(logging.WARNING, logger="edgewatch.shared.csvfile"):
        table = read_csv(write(tmp_path / "w.csv", "\n".join(rows)))
    assert table.skipped == {"bad_number": 2, "field_count": 1}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "skipped 2 row(s) (bad_number), first at line 3" in warnings[0]


def test_garbage_bytes_and_a_bom_do_not_stop_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xef\xbb\xbfa,timestamp\n1,1609459200\n\x00\xff\xfe,,\n2,1609459201\n")
    table = read_csv(path)
    assert table.metric_names == ("a",)  # not "_a": the BOM is not part of the header
    assert table.skipped == {"field_count": 1} and len(table) == 2


def test_first_column_is_the_time_when_it_parses_as_time(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path / "when.csv", "when\tp\n1609459200\t1.0\n1609459201\t2\n"))
    assert table.metric_names == ("p",) and table.timed
    np.testing.assert_array_equal(table.ts, [T0, T0 + 1])


def test_a_file_without_time_has_nan_times(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path / "n.csv", "x,y\n1,2\n3,4\n"), need_time=True)
    assert table.metric_names == ("x", "y") and not table.timed
    assert np.isnan(table.ts).all() and len(table) == 2


def test_text_columns_are_not_metrics_and_names_are_sanitised(tmp_path: Path) -> None:
    text = "ts,name,temp [°C],temp [°C],\n1609459200,pump,1,2,3\n1609459201,pump,4,5,6\n"
    table = read_csv(write(tmp_path / "m.csv", text))
    assert table.metric_names == ("temp __C_", "temp __C__2", "column_4")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("timestamp,a,b\n", "no rows below its header"),
        ("timestamp,name\n2021-01-01,abc\n2021-01-02,def\n", "no numeric metric column"),
    ],
)
def test_unusable_files_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_csv(write(tmp_path / "u.csv", content))


def test_missing_and_unreadable_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read CSV"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="cannot read CSV"):
        read_csv(tmp_path)  # a folder


def test_head_and_to_batch(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path / "h.csv", "\n".join(["timestamp,a,b,label", *good_rows()])))
    head = table.head(3)
    assert len(head) == 3 and len(table.head(99)) == 5
    head.metrics["a"][0] = -1.0  # a copy: the table is not changed through it
    assert table.metrics["a"][0] == 0.5
    batch = table.to_batch("pump")
    assert batch.sensor_type == ["pump"] * 5 and batch.sensor_id == [table.sensor_id] * 5
    assert table.sensor_id.endswith("-h")
    np.testing.assert_array_equal(batch.metrics["b"], table.metrics["b"])
    assert batch.label == table.label


def test_helpers() -> None:
    assert sniff_separator("a;b;c,d") == ";"
    assert sniff_separator("a\tb|c\td") == "\t"
    assert sniff_separator("single") == ","
    assert metric_name_of("temp [°C]", 0, set()) == "temp __C_"
    assert metric_name_of("a", 1, {"a"}) == "a_2"
    assert metric_name_of("  ", 3, set()) == "column_3"
    assert parse_time("2020-01-01T00:00:00Z") == parse_time("2020-01-01 00:00:00") == 1577836800
    assert parse_time("2020-01-01T01:00:00+01:00") == 1577836800
    assert parse_time(" 1577836800.5 ") == 1577836800.5
    assert parse_time("soon") is None
    assert sensor_id_of(Path("skab/valve 1/0.csv")) == "valve_1-0"
    assert sensor_id_of(Path("0.csv")) == "0"
