"""Replay of CSV files (SKAB, NAB or any other) as a ``Source``.

Each file is one sensor, read by ``shared.csvfile.read_csv`` (the reader training uses
too): a timestamp column, an optional 0/1 label column, and every other numeric column as
a metric, bad rows skipped and counted by reason. Files are loaded whole at start-up and
interleaved round robin, so the stream is a fixed sequence and ``start=k`` is a plain
index. Rules and examples: docs/sources.md.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgewatch.agent.sources.base import Clock, Pacer, SensorInfo
from edgewatch.shared.csvfile import CsvTable, read_csv
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.readings import FloatArray, ReadingBatch

__all__ = ["CsvReplay", "Stream"]

log = logging.getLogger(__name__)
PROGRESS_S = 30.0  # a replay is a long command: a log line this often says where it is


@dataclass(frozen=True, slots=True)
class Stream:
    """All files' rows in stream order, columnar, with each row's sensor."""

    sensor_id: list[str]
    ts: FloatArray
    metrics: dict[str, FloatArray]
    label: list[int | None]


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
        keep_time = time_mode == "original"
        tables = _unique_ids([read_csv(Path(p), sep=sep, need_time=keep_time) for p in paths])
        self._skipped: Counter[str] = Counter()
        for path, table in zip(paths, tables, strict=True):
            self._skipped.update(table.skipped)
            if keep_time and not table.timed:
                log.warning("CSV %s has no time column; its readings are stamped at replay", path)
        self._sensors = [SensorInfo(t.sensor_id, sensor_type, None, None) for t in tables]
        self._sensor_type = sensor_type
        self._stream = _interleave(tables)
        total = len(self._stream.sensor_id)
        self._end = total if count is None else min(count, total)
        self._position = start
        self._pacer = Pacer(rate, clock=clock)
        self._wall = wall
        self._restamp = time_mode == "now"
        self._clock = clock
        self._started = clock()
        self._next_progress = self._started + PROGRESS_S
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
        return dict(self._skipped)

    def wait_hint(self) -> float:
        return self._pacer.wait_hint()

    def poll(self, max_n: int) -> ReadingBatch | None:
        if self._position >= self._end:
            return None
        a = self._position
        b = a + self._pacer.take(min(max_n, self._end - a))
        self._position = b
        self._progress()
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

    def _progress(self) -> None:
        now = self._clock()
        if self._position < self._end and now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_S
        elapsed = max(now - self._started, 1e-9)
        if self._position >= self._end:
            log.info("CSV replay: all %d readings sent in %.0f s", self._end, elapsed)
            return
        rate = self._position / elapsed
        left = (self._end - self._position) / rate if rate > 0 else float("inf")
        log.info(
            "CSV replay: %d/%d readings (%.0f%%), %.0f/s, %.0f s left",
            self._position, self._end, 100 * self._position / self._end, rate, left,
        )  # fmt: skip


def _unique_ids(tables: list[CsvTable]) -> list[CsvTable]:
    """Give files that map to the same sensor id a ``-2``, ``-3`` ... suffix."""
    seen: set[str] = set()
    out = []
    for t in tables:
        sid, n = t.sensor_id, 2
        while sid in seen:
            sid, n = f"{t.sensor_id}-{n}", n + 1
        seen.add(sid)
        out.append(dataclasses.replace(t, sensor_id=sid))
    return out


def _interleave(tables: list[CsvTable]) -> Stream:
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
