"""Reading what a benchmark run stored, through the store's contract (never its tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgewatch.coordinator.store import ReadingQuery, SqliteStore
from edgewatch.coordinator.store.records import MAX_STAMPS, ReadingStamp


def all_stamps(db: Path, agent_id: str | None = None) -> list[ReadingStamp]:
    """Every stored reading's key and times (of ``agent_id``), in the store's order."""
    store = SqliteStore(db)
    try:
        out: list[ReadingStamp] = []
        after = None
        while page := store.stamps(ReadingQuery(agent_id=agent_id, after=after, limit=MAX_STAMPS)):
            out += page
            last = page[-1]
            after = (last.ts, last.agent_id, last.epoch, last.seq)
        return out
    finally:
        store.close()


def seq_ts_stored(stamps: list[ReadingStamp]) -> npt.NDArray[np.float64]:
    """``(seq, ts, stored_at)`` rows as one float matrix, for numpy figures."""
    return np.array([(s.seq, s.ts, s.stored_at) for s in stamps], dtype=np.float64).reshape(-1, 3)
