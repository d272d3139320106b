"""Replay of CSV files (SKAB, NAB or any other) as a ``Source``.

Each file is one sensor, its columns sorted into roles by ``agent.sources.csv_format``:
a timestamp column, an optional 0/1 label column, and every other numeric column as a
metric. Files are loaded whole at start-up, bad rows are skipped (counted by reason,
logged once per reason), and the files are interleaved round robin, so the stream is a
fixed sequence and ``start=k`` is a plain index. Rules and examples: docs/sources.md.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgewatch.agent.sources.base import Clock, Pacer, SensorInfo
from edgewatch.agent.sources.csv_format import (
    LABEL_NAMES,
    NOT_METRICS,
    TIME_NAMES,
    Roles,
    Row,
    find_roles,
    metric_name_of,
    parse_row,
    parse_time,
    sensor_id_of,
    sniff_separator,
)
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import FloatArray, ReadingBatch

# Column and row names are re-exported: callers have always imported them from here.
__all__ = [
    "LABEL_NAMES",
    "NOT_METRICS",
    "TIME_NAMES",
    "CsvReplay",
    "Roles",
    "Row",
    "SkipCounter",
    "Stream",
    "Table",
    "find_roles",
    "metric_name_of",
    "parse_time",
    "read_table",
    "sensor_id_of",
    "sniff_separator",
]

log = logging.getLogger(__name__)

_SAMPLE_ROWS = 100


@dataclass(frozen=True, slots=True)
class Table:
    """One file's good rows, columnar. ``ts`` is NaN where the file has no time column."""

    sensor_id: str
    ts: FloatArray
    metrics: dict[str, FloatArray]
    label: list[int | None]


@dataclass(frozen=True, slots=True)
class Stream:
    """All files' rows in stream order, columnar, with each row's sensor."""

    sensor_id: list[str]
    ts: FloatArray
    metrics: dict[str, FloatArray]
    label: list[int | None]


class SkipCounter:
    """Counts skipped rows by reason; warns once per reason with the first example."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def skip(self, reason: str, path: Path, line: int) -> None:
        if reason not in self.counts:
            log.warning("skipping CSV rows (%s), first at %s line %d", reason, path, line)
        self.counts[reason] = self.counts.get(reason, 0) + 1


def read_table(path: Path, sep: str | None, keep_time: bool, skipped: SkipCounter) -> Table:
    """Parse one file; raises ``ConfigError`` only when the file as a whole is unusable."""
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read CSV {path}: {exc}") from exc
    lines = text.splitlines()
    if not lines:
        raise ConfigError(f"CSV {path} is empty")
    rows = _rows(lines, sep or sniff_separator(lines[0]), path, skipped)
    header = rows[0][1] if rows else []
    roles = find_roles(header, [r for _, r in rows[1 : 1 + _SAMPLE_ROWS]])
    if not roles.metrics:
        raise ConfigError(f"CSV {path}: no numeric metric column in {header}")
    if keep_time and roles.time is None:
        log.warning("CSV %s has no timestamp column; its readings are stamped at replay", path)
    ts: list[float] = []
    values: list[list[float]] = []
    labels: list[int | None] = []
    for line, row in rows[1:]:
        parsed = parse_row(row, len(header), roles, keep_time)
        if isinstance(parsed, str):
            skipped.skip(parsed, path, line)
        else:
            ts.append(parsed[0])
            values.append(parsed[1])
            labels.append(parsed[2])
    matrix = np.array(values, dtype=np.float64).reshape(len(values), len(roles.metrics))
    return Table(
        sensor_id=sensor_id_of(path),
        ts=np.array(ts, dtype=np.float64),
        metrics={name: matrix[:, i].copy() for i, name in enumerate(roles.metrics)},
        label=labels,
    )


def _rows(
    lines: list[str], sep: str, path: Path, skipped: SkipCounter
) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers; rows the csv module refuses are skipped."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append((number, next(csv.reader([line], delimiter=sep))))
        except csv.Error:
            skipped.skip("malformed", path, number)
    return out


class CsvReplay:
    """CSV files replayed as one stream, one sensor per file, interleaved round robin.

    ``time_mode="original"`` keeps each row's own timestamp; ``"now"`` stamps readings
    at emission. Pacing follows ``rate`` in both modes (0: as fast as polled).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        sep: str | None = None,
        time_mode: Literal["original", "now"] = "now",
        sensor_type: str = "csv",
        rate: float = 0.0,
        count: int | None = None,
        start: int = 0,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        if not paths:
            raise ConfigError("source=csv needs at least one CSV file (--csv)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", sensor_type):
            raise ConfigError(f"sensor_type {sensor_type!r} is not [A-Za-z0-9_.-]{{1,64}}")
        self._skipped = SkipCounter()
        tables = _unique_ids(
            [read_table(Path(p), sep, time_mode == "original", self._skipped) for p in paths]
        )
        self._sensors = [SensorInfo(t.sensor_id, sensor_type, None, None) for t in tables]
        self._sensor_type = sensor_type
        self._stream = _interleave(tables)
        total = len(self._stream.sensor_id)
        self._end = total if count is None else min(count, total)
        self._position = start
        self._pacer = Pacer(rate, clock=clock)
        self._wall = wall
        self._restamp = time_mode == "now"
        log.info(
            "CSV replay: %d file(s), %d readings, skipped %s", len(tables), total, self.skipped
        )

    @property
    def sensors(self) -> list[SensorInfo]:
        return list(self._sensors)

    @property
    def position(self) -> int:
        return self._position

    @property
    def skipped(self) -> dict[str, int]:
        """Rows skipped at load time, by reason (``bad_number``, ``non_finite``, ...)."""
        return dict(self._skipped.counts)

    def wait_hint(self) -> float:
        return self._pacer.wait_hint()

    def poll(self, max_n: int) -> ReadingBatch | None:
        if self._position >= self._end:
            return None
        a = self._position
        b = a + self._pacer.take(min(max_n, self._end - a))
        self._position = b
        s = self._stream
        ts = s.ts[a:b].copy()
        if self._restamp:
            ts[:] = self._wall()
        elif np.isnan(ts).any():
            ts[np.isnan(ts)] = self._wall()  # files without a time column
        return ReadingBatch(
            sensor_id=s.sensor_id[a:b],
            sensor_type=[self._sensor_type] * (b - a),
            ts=ts,
            metrics={m: v[a:b].copy() for m, v in s.metrics.items()},
            label=s.label[a:b],
        )


def _unique_ids(tables: list[Table]) -> list[Table]:
    """Give files that map to the same sensor id a ``-2``, ``-3`` ... suffix."""
    seen: set[str] = set()
    out = []
    for t in tables:
        sid, n = t.sensor_id, 2
        while sid in seen:
            sid, n = f"{t.sensor_id}-{n}", n + 1
        seen.add(sid)
        out.append(Table(sid, t.ts, t.metrics, t.label))
    return out


def _interleave(tables: list[Table]) -> Stream:
    """Row 0 of every file, then row 1 of every file still going, and so on."""
    lengths = [len(t.label) for t in tables]
    # Stream position of (file f, row r) is the rank of r * F + f among all such keys.
    keys = np.concatenate([np.arange(n) * len(tables) + f for f, n in enumerate(lengths)])
    order = np.argsort(keys, kind="stable")
    names = list(dict.fromkeys(m for t in tables for m in t.metrics))
    metrics = {
        m: np.concatenate([t.metrics.get(m, np.full(len(t.label), np.nan)) for t in tables])[order]
        for m in names
    }
    ids = [t.sensor_id for t in tables for _ in range(len(t.label))]
    labels = [x for t in tables for x in t.label]
    pick = order.tolist()
    return Stream(
        sensor_id=[ids[i] for i in pick],
        ts=np.concatenate([t.ts for t in tables])[order],
        metrics=metrics,
        label=[labels[i] for i in pick],
    )
