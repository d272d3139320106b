"""Daily partitions of ``readings``: created before the rows that need them, dropped whole.

There is no default partition on purpose: a partition cannot be created for a range that
a default partition already holds rows of, so a backlog arriving late would make its own
day impossible to create. Instead the writer asks for the days a transaction touches
before it begins (``ensure``); the names are cached, so this costs a set lookup per
batch once a day exists.

Creation runs in a short transaction of its own under an advisory lock, so two replicas
asking for the same new day create it once.
"""

from __future__ import annotations

import calendar
import threading
import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DAY_S = 86_400
PARTITION_LOCK = 0x65645F70617274  # "ed_part"


def day_of(ts: float) -> int:
    """The UTC day number (days since 1970-01-01) of ``ts``."""
    return int(ts // DAY_S)


def partition_name(day: int) -> str:
    return "readings_" + time.strftime("%Y%m%d", time.gmtime(day * DAY_S))


def days_between(low: float, high: float) -> range:
    return range(day_of(low), day_of(high) + 1)


class Partitions:
    """The partitions of ``readings`` known to exist (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: set[int] = set()
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the existing partitions (another replica may have dropped some)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'readings'::regclass"
                )
            )
            names = {r[0] for r in rows}
        with self._lock:
            self._known = set(_days_of(names))

    def ensure(self, days: Iterable[int]) -> None:
        """Create each day's partition that does not exist yet."""
        with self._lock:
            missing = sorted(set(days) - self._known)
        if not missing:
            return
        with self._engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
            for day in missing:
                low, high = day * DAY_S, (day + 1) * DAY_S
                conn.execute(
                    sa.text(
                        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF readings "
                        f"FOR VALUES FROM ({low}) TO ({high})"
                    )
                )
        with self._lock:
            self._known.update(missing)

    def days(self) -> list[int]:
        with self._lock:
            return sorted(self._known)

    def drop_before(self, cutoff: float) -> list[str]:
        """Drop every partition wholly older than ``cutoff`` (and the keys of its
        readings); the names dropped. Costs no row deletes for the readings themselves."""
        self.refresh()
        doomed = [d for d in self.days() if (d + 1) * DAY_S <= cutoff]
        if not doomed:
            return []
        bound = (doomed[-1] + 1) * DAY_S
        with self._engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
            for day in doomed:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
            # Keys are narrow rows found by the BRIN index on ts; without them a resend of
            # a reading older than retention would be stored again (it was dropped).
            # The cloud's verdicts go with their keys (retention's ``empty_day`` does the same).
            conn.execute(
                sa.text(
                    "WITH gone AS (DELETE FROM reading_keys WHERE ts < :b "
                    "RETURNING agent_id, epoch, seq) DELETE FROM cloud_verdicts c USING gone g "
                    "WHERE c.agent_id = g.agent_id AND c.epoch = g.epoch AND c.seq = g.seq"
                ),
                {"b": bound},
            )
        with self._lock:
            self._known -= set(doomed)
        return [partition_name(d) for d in doomed]


def _days_of(names: Iterable[str]) -> Iterable[int]:
    for name in names:
        stamp = name.removeprefix("readings_")
        if len(stamp) == 8 and stamp.isdigit():
            parsed = time.strptime(stamp, "%Y%m%d")
            yield day_of(calendar.timegm(parsed))
