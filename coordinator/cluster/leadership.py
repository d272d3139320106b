"""Leadership: which one process holds a named role (the fleet duty, a schedule, a timer).

    Leadership (Protocol)
    ├── LocalLeadership          one process: the role is held in memory (SQLite store)
    └── PgAdvisoryLeadership     replicas: a PostgreSQL advisory lock on a live session
                                 (``pg_leadership``)

A holder knows it holds the role only as of its last **confirmation** (a round trip to
whatever arbitrates), and only for ``ttl_s`` after the moment that round trip *began*:
the arbiter cannot hand the role to another before then (``Tenure``). So a holder that
stalls (a long GC pause, SIGSTOP, a hung link) finds ``holds()`` false when it wakes,
before it acts, rather than acting beside its successor.

Time is injected (``shared.clock``): the deadline logic is tested on a manual clock.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Protocol

from edgewatch.shared.clock import SYSTEM, Clock


class Leadership(Protocol):
    """One role, taken and held by at most one process at a time."""

    name: str

    def try_acquire(self) -> bool:
        """Take the role if nobody holds it; True if this process holds it now."""
        ...

    def confirm(self) -> bool:
        """Prove (one round trip) the role is still ours; False once it is lost."""
        ...

    def holds(self) -> bool:
        """Whether the role is ours as of the last confirmation, without any I/O: false
        once its deadline passed, whether or not anyone has taken it yet."""
        ...

    def release(self) -> None:
        """Give the role up (stopping cleanly, so a successor need not wait)."""
        ...


class Tenure:
    """The deadline of a held role: ``ttl_s`` after the last confirmation *began*."""

    def __init__(self, ttl_s: float, clock: Clock = SYSTEM) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.ttl_s = ttl_s
        self.clock = clock
        self._deadline: float | None = None
        self._lock = threading.Lock()

    def begin(self) -> float:
        """The moment a confirmation starts (pass it to ``confirmed``)."""
        return self.clock.monotonic()

    def confirmed(self, began: float) -> None:
        with self._lock:
            self._deadline = began + self.ttl_s

    def lost(self) -> None:
        with self._lock:
            self._deadline = None

    def valid(self) -> bool:
        with self._lock:
            return self._deadline is not None and self.clock.monotonic() < self._deadline

    def remaining(self) -> float:
        with self._lock:
            if self._deadline is None:
                return 0.0
            return max(0.0, self._deadline - self.clock.monotonic())


class LocalLeadership:
    """The role held in this process's memory: one coordinator, no arbiter to ask.

    Two instances with one name in one process exclude each other (tests run several
    duties in one interpreter); across processes nothing is excluded, which is why a
    coordinator on SQLite refuses ``--share-group``.
    """

    _holders: ClassVar[dict[str, LocalLeadership]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name

    def try_acquire(self) -> bool:
        with self._guard:
            holder = self._holders.setdefault(self.name, self)
            return holder is self

    def confirm(self) -> bool:
        return self.holds()

    def holds(self) -> bool:
        with self._guard:
            return self._holders.get(self.name) is self

    def release(self) -> None:
        with self._guard:
            if self._holders.get(self.name) is self:
                del self._holders[self.name]
