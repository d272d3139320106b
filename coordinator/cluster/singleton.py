"""``SingletonDuty``: run a duty on exactly the replica that holds its ``Leadership``.

Any duty that must run once in the whole deployment (assignment and rebalancing today;
the training schedule, rollout control and alert timers as they come) is put under one:

    >>> runner = SingletonDuty("fleet", leadership, make_duty=build_fleet_duty)
    >>> runner.start()          # every check_s: confirm, or try to take over

Where the role is held, a **fresh** duty is built (``make_duty``: it loads its state from
the store, where the previous holder left it) and started; where the role is lost (the
confirmation failed, or its deadline passed while this process stalled), the duty is
stopped at once. A duty should also ask ``still_held()`` right before an action that
must not be taken twice (a commit, a publish): that costs no I/O.

Bound on a move: a dead holder's lock is free at once; a stalled one's after the
leadership's ``ttl_s``; another replica takes it at its next check (``check_s``) and
starts the duty. So the duty moves within ``ttl_s + check_s`` (plus its start).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from edgewatch.coordinator.cluster.leadership import Leadership
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)


class Duty(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


D = TypeVar("D", bound=Duty)


class SingletonDuty(Generic[D]):
    """Holds ``leadership`` when it can; runs the duty only while it does."""

    def __init__(
        self,
        name: str,
        leadership: Leadership,
        make_duty: Callable[[], D],
        *,
        check_s: float = 1.0,
        clock: Clock = SYSTEM,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self.leadership = leadership
        self._make = make_duty
        self.check_s = check_s
        self.clock = clock
        self._on_change = on_change
        self.duty: D | None = None
        self.acquired = 0  # times this process took the role
        self.lost = 0  # times it lost it without giving it up
        self.held_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    def still_held(self) -> bool:
        """True while the role is ours (no I/O; the duty's guard before acting)."""
        return self.leadership.holds()

    @property
    def running(self) -> D | None:
        """The running duty, if this process holds the role right now. Lock-free: ingest
        asks at every commit and must not wait for a check that waits on the network."""
        duty = self.duty
        return duty if duty is not None and self.still_held() else None

    def step(self) -> bool:
        """One check: confirm the role (or take it), start or stop the duty; held now?"""
        with self._lock:
            if self.duty is not None:
                if self.leadership.confirm():
                    return True
                log.warning("%s: role lost; stopping the duty here", self.name)
                self.lost += 1
                self._stop_duty()
                return False
            if not self.leadership.try_acquire():
                return False
            self.acquired += 1
            self.held_since = self.clock.time()
            log.info("%s: this replica holds the role; starting the duty", self.name)
            try:
                duty = self._make()
                duty.start()
            except Exception:
                log.exception("%s: the duty failed to start; giving the role up", self.name)
                self.leadership.release()
                self.held_since = None
                return False
            self.duty = duty
            self._changed(True)
            return True

    def _stop_duty(self) -> None:
        duty, self.duty = self.duty, None
        self.held_since = None
        if duty is not None:
            try:
                duty.stop()
            except Exception:
                log.exception("%s: the duty failed to stop", self.name)
            self._changed(False)

    def _changed(self, held: bool) -> None:
        if self._on_change is not None:
            self._on_change(held)

    def start(self) -> None:
        self.step()  # a lone coordinator starts its duties before it ingests
        self._thread = threading.Thread(
            target=self._run, name=f"singleton-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.check_s):
            try:
                self.step()
            except Exception:
                log.exception("%s: leadership check failed", self.name)

    def stop(self) -> None:
        """Stop the duty and give the role up, so another replica takes it at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5 + self.check_s)
            self._thread = None
        with self._lock:
            self._stop_duty()
            self.leadership.release()
