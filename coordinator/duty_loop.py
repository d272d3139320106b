"""The thread every coordinator duty runs on: a tick every ``interval_s``, or at once when
woken, and a tick that raises is logged and counted, never the end of the duty.

The fleet, model and alert duties each had this loop written out; they differ only in
what one tick does (``tick``) and in how often at most it may run (``min_gap_s``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class DutyLoop:
    def __init__(
        self,
        name: str,
        tick: Callable[[], object],
        interval_s: float,
        *,
        min_gap_s: float = 0.0,
    ) -> None:
        self.name = name
        self._tick = tick
        self.interval_s = interval_s
        self._min_gap_s = min_gap_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Tick now, not at the next interval (any thread)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:
                # A bad tick (a store hiccup, a bug) is logged with its traceback and
                # retried at the next one: the duty outlives it.
                self.errors += 1
                log.exception("%s: a tick failed; trying again", self.name)
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._min_gap_s:
                self._stop.wait(self._min_gap_s)  # a busy source must not spin the duty
