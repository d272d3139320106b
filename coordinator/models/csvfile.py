"""Read a labelled or unlabelled sensor CSV (SKAB, NAB, our own exports) into a batch.

The first column whose name looks like a time (``datetime``, ``timestamp``, ``time``,
``ts``) gives ``ts`` (ISO 8601 text or epoch seconds; naive times are taken as UTC); a
column named ``anomaly`` or ``label`` gives the labels; ``changepoint`` is ignored; every
other column is a metric. The separator is sniffed (``;`` for SKAB, ``,`` elsewhere).
All readings get one ``sensor_id`` (default: the file's stem).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edgewatch.shared.readings import ReadingBatch

TIME_COLUMNS = ("datetime", "timestamp", "time", "ts")
LABEL_COLUMNS = ("anomaly", "label")
IGNORED_COLUMNS = ("changepoint",)


@dataclass(frozen=True, slots=True)
class CsvTable:
    """A CSV file as a batch, plus what the file told us about itself."""

    batch: ReadingBatch
    metrics: tuple[str, ...]
    labelled: bool


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def _number(text: str) -> float:
    return float(text) if text.strip() else float("nan")


def read_csv(
    path: Path, *, sensor_type: str, sensor_id: str | None = None, sep: str | None = None
) -> CsvTable:
    """Parse ``path``; raises ``ValueError`` naming the line of the first bad value."""
    with path.open(newline="", encoding="utf-8") as handle:
        head = handle.readline()
        delimiter = sep or (";" if head.count(";") > head.count(",") else ",")
        header = next(csv.reader([head], delimiter=delimiter))
        rows = list(csv.reader(handle, delimiter=delimiter))
    names = [h.strip() for h in header]
    time_col = next((i for i, h in enumerate(names) if h.lower() in TIME_COLUMNS), None)
    label_col = next((i for i, h in enumerate(names) if h.lower() in LABEL_COLUMNS), None)
    skip = {time_col, label_col} | {i for i, h in enumerate(names) if h.lower() in IGNORED_COLUMNS}
    metric_cols = [i for i in range(len(names)) if i not in skip]
    values = np.full((len(rows), len(metric_cols)), np.nan)
    ts = np.arange(len(rows), dtype=np.float64)
    labels: list[int | None] = [None] * len(rows)
    for r, row in enumerate(rows):
        try:
            values[r] = [_number(row[i]) for i in metric_cols]
            if time_col is not None:
                ts[r] = _parse_time(row[time_col])
            if label_col is not None and row[label_col].strip():
                labels[r] = int(float(row[label_col]))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}:{r + 2}: {exc}") from exc
    metrics = tuple(names[i] for i in metric_cols)
    batch = ReadingBatch(
        sensor_id=[sensor_id or path.stem] * len(rows),
        sensor_type=[sensor_type] * len(rows),
        ts=ts,
        metrics={m: values[:, j].copy() for j, m in enumerate(metrics)},
        label=labels,
    )
    return CsvTable(batch=batch, metrics=metrics, labelled=label_col is not None)
