"""The CSV formats ``CsvReplay`` reads: column detection and row parsing.

Columns are sorted into roles by header name and content: a timestamp column, an
optional 0/1 label column, and every other numeric column as a metric (``find_roles``).
Each row is then parsed into its timestamp, metric values and label, or the reason it is
skipped (``parse_row``). Rules and examples: docs/sources.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edgewatch.shared.schemas import MAX_TS, MIN_TS

TIME_NAMES = ("timestamp", "datetime", "date_time", "time", "ts", "date")
LABEL_NAMES = ("anomaly", "label", "is_anomaly")
# Label-like columns that are never metrics (SKAB's changepoint marks onsets, not states).
NOT_METRICS = frozenset({*LABEL_NAMES, "changepoint", "change_point", "is_changepoint"})
_SEPARATORS = (";", ",", "\t", "|")


@dataclass(frozen=True, slots=True)
class Roles:
    """Which column does what (indices into the header)."""

    time: int | None
    label: int | None
    metrics: dict[str, int]  # sanitised metric name -> column


def sniff_separator(header: str) -> str:
    """The most frequent of ``; , TAB |`` in the header line (``,`` if none)."""
    counts = [header.count(sep) for sep in _SEPARATORS]
    return _SEPARATORS[counts.index(max(counts))] if max(counts) > 0 else ","


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


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def _looks_like_time(values: list[str]) -> bool:
    stamps = [parse_time(v) for v in values[:10] if v.strip()]
    return bool(stamps) and all(s is not None and MIN_TS <= s <= MAX_TS for s in stamps)


Row = tuple[float, list[float], int | None]


def parse_row(row: list[str], width: int, roles: Roles, keep_time: bool) -> Row | str:
    """The row's (ts, metric values, label), or the reason it is skipped."""
    if len(row) != width:
        return "field_count"
    ts = math.nan
    if keep_time and roles.time is not None:
        stamp = parse_time(row[roles.time])
        if stamp is None:
            return "bad_timestamp"
        if not MIN_TS <= stamp <= MAX_TS:
            return "ts_range"
        ts = stamp
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
