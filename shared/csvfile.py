"""Sensor CSV files (SKAB, NAB or any other) read into columns: the one reader.

CSV replay (``agent.sources.csv_replay``) streams what ``read_csv`` returns, and training
(``coordinator.models.trainer.train_csv``) and the SKAB evaluation fit on it, so a model
is trained on exactly the rows an agent replays, under the same metric names.

Columns are sorted into roles by header name and content (``find_roles``): a timestamp
column, an optional 0/1 label column, and every other numeric column as a metric. Each
row is then parsed into its timestamp, metric values and label, or the reason it is
skipped. Bad rows are skipped and counted by reason, never fatal; only a file as a whole
(unreadable, empty, no numeric column) raises ``ConfigError``. Rules and examples:
docs/sources.md, "CSV replay". numpy and the standard library only: the agent imports it.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "pump.csv"
>>> _ = path.write_text("ts;flow;anomaly\\n1609459200;3.5;0\\n1609459201;x;0\\n1609459202;4;1\\n")
>>> table = read_csv(path)
>>> table.metric_names, table.label, table.skipped
(('flow',), [0, 1], {'bad_number': 1})
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import FloatArray, ReadingBatch
from edgewatch.shared.schemas import MAX_TS, MIN_TS

log = logging.getLogger(__name__)

TIME_NAMES = ("timestamp", "datetime", "date_time", "time", "ts", "date")
LABEL_NAMES = ("anomaly", "label", "is_anomaly")
# Label-like columns that are never metrics (SKAB's changepoint marks onsets, not states).
NOT_METRICS = frozenset({*LABEL_NAMES, "changepoint", "change_point", "is_changepoint"})
SEPARATORS = (";", ",", "\t", "|")
SAMPLE_ROWS = 100  # rows looked at to decide which columns are numeric


@dataclass(frozen=True, slots=True)
class Roles:
    """Which column does what (indices into the header)."""

    time: int | None
    label: int | None
    metrics: dict[str, int]  # sanitised metric name -> column


@dataclass(frozen=True, slots=True)
class CsvTable:
    """One file's good rows, columnar, and what was skipped to get them.

    ``ts`` is NaN where the file has no time column or (unless read with
    ``need_time``) the row's time is unusable. ``label`` is None where unknown.
    """

    sensor_id: str
    ts: FloatArray
    metrics: dict[str, FloatArray]
    label: list[int | None]
    timed: bool  # the file has a time column
    labelled: bool  # the file has a label column
    skipped: dict[str, int]  # rows skipped, by reason

    def __len__(self) -> int:
        return len(self.label)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.metrics)

    def head(self, n: int) -> CsvTable:
        """The first ``n`` good rows (all of them if there are fewer)."""
        return CsvTable(
            sensor_id=self.sensor_id,
            ts=self.ts[:n].copy(),
            metrics={m: v[:n].copy() for m, v in self.metrics.items()},
            label=self.label[:n],
            timed=self.timed,
            labelled=self.labelled,
            skipped=self.skipped,
        )

    def to_batch(self, sensor_type: str) -> ReadingBatch:
        """The rows as readings of one sensor (``sensor_id``) of type ``sensor_type``."""
        n = len(self)
        return ReadingBatch(
            sensor_id=[self.sensor_id] * n,
            sensor_type=[sensor_type] * n,
            ts=self.ts.copy(),
            metrics={m: v.copy() for m, v in self.metrics.items()},
            label=list(self.label),
        )


def read_csv(path: Path, *, sep: str | None = None, need_time: bool = False) -> CsvTable:
    """Parse one file; raises ``ConfigError`` only when the file as a whole is unusable.

    ``sep`` overrides the sniffed separator. With ``need_time`` (replay keeping the
    file's own times) a row whose time does not parse or is outside 2000..2100 is
    skipped; without it such a row is kept with ``ts`` NaN.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read CSV {path}: {exc}") from exc
    if not lines:
        raise ConfigError(f"CSV {path} is empty")
    skips = _Skips(path)
    rows = _rows(lines, sep or sniff_separator(lines[0]), skips)
    header = rows[0][1] if rows else []
    if len(rows) < 2:
        raise ConfigError(f"CSV {path} has no rows below its header")
    roles = find_roles(header, [r for _, r in rows[1 : 1 + SAMPLE_ROWS]])
    if not roles.metrics:
        raise ConfigError(f"CSV {path}: no numeric metric column in {header}")
    ts: list[float] = []
    values: list[list[float]] = []
    labels: list[int | None] = []
    for line, row in rows[1:]:
        parsed = _parse_row(row, len(header), roles, need_time)
        if isinstance(parsed, str):
            skips.add(parsed, line)
        else:
            ts.append(parsed[0])
            values.append(parsed[1])
            labels.append(parsed[2])
    skips.log()
    matrix = np.array(values, dtype=np.float64).reshape(len(values), len(roles.metrics))
    return CsvTable(
        sensor_id=sensor_id_of(path),
        ts=np.array(ts, dtype=np.float64),
        metrics={name: matrix[:, i].copy() for i, name in enumerate(roles.metrics)},
        label=labels,
        timed=roles.time is not None,
        labelled=roles.label is not None,
        skipped=dict(skips.counts),
    )


class _Skips:
    """One file's skipped rows: a count and the first line, per reason."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: dict[str, int] = {}
        self.first: dict[str, int] = {}

    def add(self, reason: str, line: int) -> None:
        self.first.setdefault(reason, line)
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def log(self) -> None:
        # One warning per reason and file: a file of a million bad rows is one line.
        for reason, n in self.counts.items():
            log.warning(
                "CSV %s: skipped %d row(s) (%s), first at line %d",
                self.path,
                n,
                reason,
                self.first[reason],
            )


def _rows(lines: list[str], sep: str, skips: _Skips) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers; rows the csv module refuses are skipped."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append((number, next(csv.reader([line], delimiter=sep))))
        except csv.Error:
            skips.add("malformed", number)
    return out


def sniff_separator(header: str) -> str:
    """The most frequent of ``; , TAB |`` in the header line (``,`` if none)."""
    counts = [header.count(sep) for sep in SEPARATORS]
    return SEPARATORS[counts.index(max(counts))] if max(counts) > 0 else ","


def sensor_id_of(path: Path) -> str:
    """``valve1/0.csv`` -> ``valve1-0``, restricted to the schema's characters."""
    raw = f"{path.parent.name}-{path.stem}" if path.parent.name else path.stem
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", raw)[:128] or "csv"


def metric_name_of(header: str, column: int, taken: set[str]) -> str:
    """The header cut to the schema's MetricName pattern, unique within the file."""
    name = re.sub(r"[^A-Za-z0-9_. ()/%-]", "_", header.strip())[:60] or f"column_{column}"
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    taken.add(unique)
    return unique


def parse_time(text: str) -> float | None:
    """Epoch seconds from ISO 8601, ``YYYY-MM-DD hh:mm:ss`` (naive = UTC) or a number."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def find_roles(header: list[str], sample: list[list[str]]) -> Roles:
    """Sort columns into time, label and metrics (see the module docstring)."""
    lower = [h.strip().lower() for h in header]
    time_col = next((lower.index(n) for n in TIME_NAMES if n in lower), None)
    if time_col is None and _looks_like_time([r[0] for r in sample if r]):
        time_col = 0
    label = next((lower.index(n) for n in LABEL_NAMES if n in lower), None)
    metrics: dict[str, int] = {}
    taken: set[str] = set()
    for col, name in enumerate(lower):
        if col == time_col or name in NOT_METRICS:
            continue
        values = [r[col].strip() for r in sample if len(r) == len(header) and r[col].strip()]
        if values and 2 * sum(map(_parses, values)) > len(values):
            metrics[metric_name_of(header[col], col, taken)] = col
    return Roles(time_col, label, metrics)


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_time(values: list[str]) -> bool:
    stamps = [parse_time(v) for v in values[:10] if v.strip()]
    return bool(stamps) and all(s is not None and MIN_TS <= s <= MAX_TS for s in stamps)


def _parse_row(
    row: list[str], width: int, roles: Roles, need_time: bool
) -> tuple[float, list[float], int | None] | str:
    """The row's (ts, metric values, label), or the reason it is skipped."""
    if len(row) != width:
        return "field_count"
    ts = math.nan
    if roles.time is not None:
        stamp = parse_time(row[roles.time])
        if stamp is not None and MIN_TS <= stamp <= MAX_TS:
            ts = stamp
        elif need_time:
            return "bad_timestamp" if stamp is None else "ts_range"
    values: list[float] = []
    for col in roles.metrics.values():
        cell = row[col].strip()
        try:
            value = float(cell) if cell else math.nan  # an empty cell is an absent metric
        except ValueError:
            return "bad_number"
        if math.isinf(value) or (cell and math.isnan(value)):
            return "non_finite"
        values.append(value)
    if all(math.isnan(v) for v in values):
        return "no_metrics"
    label = _parse_label(row[roles.label]) if roles.label is not None else None
    return "bad_label" if label == -1 else (ts, values, label)


def _parse_label(cell: str) -> int | None:
    """0 or 1 (``1.0`` too), None when empty, -1 when it is neither."""
    if not cell.strip():
        return None
    try:
        value = float(cell)
    except ValueError:
        return -1
    return int(value) if value in (0.0, 1.0) else -1
