"""The ledger: what was generated against what the coordinator stored, reading by reading.

Every fault test ends with the same question: did each generated reading reach the store
exactly once, in order per sensor? The simulator is deterministic, so the test knows the
generated stream per agent (a list of content keys in generation order); the store
knows what arrived, keyed ``(agent_id, epoch, seq)``. Readings are matched by
**content**, not by seq, because a fault can make an agent number the same reading twice
(a recreated outbox gets a new epoch and restarts at seq 0), and the ledger must see that
as the duplicate it is.

    >>> expected = {"a1": keys_from_batches(simulator_batches)}
    >>> report = check_store(expected, tmp_path / "coordinator.db", dropped_reported=0)
    >>> report.assert_clean()

Counting rules (multisets, so two readings with equal content are two readings):

* ``missing``: generated readings with no stored copy; ``lost`` is the part of them the
  agent did not report dropped by its outbox policy (``dropped_reported``);
* ``duplicates``: stored copies beyond the first of one generated reading;
* ``reordered_within_sensor``: adjacent stored readings of one sensor, in
  ``(epoch, seq)`` order, whose generation order is the other way round (extra copies
  are left out: they are already duplicates). Epochs are random numbers, so epochs are
  ordered by when their first row was stored;
* ``unexpected``: stored rows that match no generated reading of that agent.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.shared.readings import ReadingBatch

# (sensor_id, ((metric, rounded value), ...)) or the same with a rounded ts appended.
ContentKey = tuple[Any, ...]
_EXAMPLES = 5


def content_key(
    sensor_id: str,
    metrics: Mapping[str, float | None],
    ts: float | None = None,
    digits: int = 6,
) -> ContentKey:
    """The identity of a reading by what it says, not by how it was numbered.

    Absent metrics (``None`` on the wire, ``NaN`` in a ``ReadingBatch``) are left out, so
    both sides agree. Values are rounded only to absorb float formatting, not noise.
    """
    values = tuple(
        sorted(
            (name, round(float(v), digits))
            for name, v in metrics.items()
            if v is not None and not math.isnan(v)
        )
    )
    if ts is None:
        return (sensor_id, values)
    return (sensor_id, values, round(ts, 3))


def keys_from_batches(
    batches: Iterable[ReadingBatch], *, with_ts: bool = False, digits: int = 6
) -> list[ContentKey]:
    """Content keys of every reading in ``batches``, in order."""
    keys: list[ContentKey] = []
    for batch in batches:
        columns = {name: col.tolist() for name, col in batch.metrics.items()}
        ts = batch.ts.tolist()
        for i, sensor in enumerate(batch.sensor_id):
            metrics = {name: col[i] for name, col in columns.items()}
            keys.append(content_key(sensor, metrics, ts[i] if with_ts else None, digits))
    return keys


@dataclass(frozen=True)
class StoredRow:
    agent_id: str
    epoch: int
    seq: int
    sensor_id: str
    key: ContentKey
    stored_at: float


def load_store(db_path: Path, *, with_ts: bool = False, digits: int = 6) -> list[StoredRow]:
    """Every row of the coordinator's ``readings`` table, opened read-only."""
    # mode=ro: the ledger must never be the thing that changes (or locks) the store.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        cursor = conn.execute(
            "SELECT agent_id, epoch, seq, sensor_id, ts, metrics, stored_at FROM readings"
        )
        rows = []
        for agent_id, epoch, seq, sensor_id, ts, metrics, stored_at in cursor:
            values = json.loads(metrics) if isinstance(metrics, str | bytes) else metrics
            key = content_key(sensor_id, values, ts if with_ts else None, digits)
            rows.append(StoredRow(agent_id, int(epoch), int(seq), sensor_id, key, stored_at or 0))
        return rows
    finally:
        conn.close()


def load_store_url(url: str, *, with_ts: bool = False, digits: int = 6) -> list[StoredRow]:
    """Every row of a PostgreSQL coordinator store's ``readings`` (all partitions)."""
    import psycopg

    with psycopg.connect(url) as conn:
        cursor = conn.execute(
            "SELECT agent_id, epoch, seq, sensor_id, ts, metrics, stored_at FROM readings"
        )
        return [
            StoredRow(
                agent_id,
                int(epoch),
                int(seq),
                sensor_id,
                content_key(sensor_id, json.loads(metrics), ts if with_ts else None, digits),
                stored_at,
            )
            for agent_id, epoch, seq, sensor_id, ts, metrics, stored_at in cursor
        ]


@dataclass(frozen=True)
class LedgerReport:
    """The reconciliation; ``assert_clean()`` is what a fault test calls."""

    generated: int
    stored: int
    lost: int
    duplicates: int
    reordered_within_sensor: int
    dropped_reported: int
    unexpected: int
    missing: int = 0
    examples: tuple[str, ...] = field(default=(), compare=False)
    missing_by_agent: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), compare=False)

    @property
    def clean(self) -> bool:
        return not self.problems()

    def missing_indices(self, agent_id: str) -> tuple[int, ...]:
        """Generation indices of ``agent_id``'s readings absent from the store (ascending);
        a drop-oldest outbox must have lost a run of its oldest unacked rows."""
        return dict(self.missing_by_agent).get(agent_id, ())

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{self.lost} lost")
        if self.missing < self.dropped_reported:
            over = self.dropped_reported - self.missing
            found.append(f"{over} reported dropped but stored anyway")
        if self.duplicates:
            found.append(f"{self.duplicates} stored twice")
        if self.reordered_within_sensor:
            found.append(f"{self.reordered_within_sensor} reordered within a sensor")
        if self.unexpected:
            found.append(f"{self.unexpected} unexpected rows")
        return found

    def summary(self) -> str:
        head = (
            f"generated={self.generated} stored={self.stored} missing={self.missing} "
            f"dropped_reported={self.dropped_reported} lost={self.lost} "
            f"duplicates={self.duplicates} reordered={self.reordered_within_sensor} "
            f"unexpected={self.unexpected}"
        )
        return "\n".join([head, *(f"  {e}" for e in self.examples)])

    def assert_clean(self) -> None:
        """Raise ``AssertionError`` naming every problem and a few example readings."""
        problems = self.problems()
        if problems:
            raise AssertionError(f"ledger not clean: {', '.join(problems)}\n{self.summary()}")


def reconcile(
    expected: Mapping[str, Sequence[ContentKey]],
    stored: Iterable[StoredRow],
    dropped_reported: int = 0,
) -> LedgerReport:
    """Match ``stored`` rows against each agent's generated stream (see module doc)."""
    by_agent: dict[str, list[StoredRow]] = defaultdict(list)
    for row in stored:
        by_agent[row.agent_id].append(row)
    tally = _Tally()
    for agent_id in sorted(set(expected) | set(by_agent)):
        tally.agent(agent_id, expected.get(agent_id, ()), by_agent.get(agent_id, []))
    return LedgerReport(
        generated=sum(len(keys) for keys in expected.values()),
        stored=sum(len(rows) for rows in by_agent.values()),
        lost=max(0, tally.missing - dropped_reported),
        duplicates=tally.duplicates,
        reordered_within_sensor=tally.reordered,
        dropped_reported=dropped_reported,
        unexpected=tally.unexpected,
        missing=tally.missing,
        examples=tuple(tally.examples),
        missing_by_agent=tuple(tally.missing_by_agent),
    )


def check_store(
    expected: Mapping[str, Sequence[ContentKey]],
    db_path: Path | str,
    *,
    dropped_reported: int = 0,
    with_ts: bool = False,
    digits: int = 6,
) -> LedgerReport:
    """``reconcile`` against the coordinator's store: a SQLite file or a PostgreSQL URL."""
    if isinstance(db_path, str) and db_path.startswith("postgresql://"):
        rows = load_store_url(db_path, with_ts=with_ts, digits=digits)
    else:
        rows = load_store(Path(db_path), with_ts=with_ts, digits=digits)
    return reconcile(expected, rows, dropped_reported)


def _stored_order(rows: list[StoredRow]) -> list[StoredRow]:
    """Rows in ``(epoch, seq)`` order, epochs ranked by their first arrival."""
    first: dict[int, tuple[float, int]] = {}
    for row in rows:
        mark = (row.stored_at, row.epoch)
        first[row.epoch] = min(first.get(row.epoch, mark), mark)
    return sorted(rows, key=lambda r: (first[r.epoch], r.seq))


class _Tally:
    """Running counts over agents; one ``agent()`` call per agent id."""

    def __init__(self) -> None:
        self.missing = self.duplicates = self.reordered = self.unexpected = 0
        self.examples: list[str] = []
        self.missing_by_agent: list[tuple[str, tuple[int, ...]]] = []

    def _example(self, text: str) -> None:
        if len(self.examples) < 4 * _EXAMPLES:
            self.examples.append(text)

    def agent(self, agent_id: str, keys: Sequence[ContentKey], rows: list[StoredRow]) -> None:
        positions: dict[ContentKey, list[int]] = defaultdict(list)
        for index, key in enumerate(keys):
            positions[key].append(index)
        used: dict[ContentKey, int] = defaultdict(int)
        last_index: dict[str, int] = {}
        for row in _stored_order(rows):
            slots = positions.get(row.key)
            if not slots:
                self.unexpected += 1
                self._example(f"unexpected {agent_id} epoch={row.epoch} seq={row.seq} {row.key}")
                continue
            n = used[row.key]
            used[row.key] = n + 1
            if n >= len(slots):
                # Counted once, as a duplicate: a late extra copy is not also a reorder.
                self.duplicates += 1
                self._example(f"duplicate {agent_id} epoch={row.epoch} seq={row.seq} {row.key}")
                continue
            index = slots[n]
            previous = last_index.get(row.sensor_id)
            if previous is not None and index < previous:
                self.reordered += 1
                self._example(
                    f"reordered {agent_id} {row.sensor_id}: generated #{index} stored after "
                    f"#{previous} (epoch={row.epoch} seq={row.seq})"
                )
            last_index[row.sensor_id] = index
        absent = sorted(i for key, slots in positions.items() for i in slots[used[key] :])
        self.missing += len(absent)
        if absent:
            self.missing_by_agent.append((agent_id, tuple(absent)))
            shown = ", ".join(f"#{i}" for i in absent[:_EXAMPLES])
            self._example(f"missing {agent_id}: {len(absent)} readings, first {shown}")
