"""The alert duty: the engine's timer work in one thread.

Every ``tick_s``, and at once when the aggregates moved (``wake``), it evaluates the
threshold rules (``AlertEngine.tick``); it also takes the edge alert batches the MQTT
thread queued (bounded: a full queue drops the batch, the agent resends it) and re-reads
silences every ``silence_poll_s``.

With replicas, every replica runs the thread (edge alert batches arrive at whichever
replica the shared subscription picked, and are stored once), but only the holder of
the ``alerts`` role (``holds``) evaluates the rules, republishes the active set and
clears stale retained alerts: the timer work runs once in the deployment.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from edgewatch.coordinator.alerts.edge import EdgeAlertIntake
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.publisher import AlertPublisher
from edgewatch.coordinator.duty_loop import DutyLoop

log = logging.getLogger(__name__)


class AlertDuty:
    def __init__(
        self,
        engine: AlertEngine,
        intake: EdgeAlertIntake | None,
        publisher: AlertPublisher | None = None,
        *,
        tick_s: float = 1.0,
        silence_poll_s: float = 5.0,
        min_gap_s: float = 0.25,
        queue_size: int = 1000,
        holds: Callable[[], bool] = lambda: True,
    ) -> None:
        self.engine = engine
        self._holds = holds
        self._intake = intake
        self._publisher = publisher
        self._republish = threading.Event()
        self._silence_poll_s = silence_poll_s
        self._loop = DutyLoop("alert-duty", self.step, tick_s, min_gap_s=min_gap_s)
        # (kind, agent id or topic, payload) from the MQTT thread: "edge" or "retained".
        self._inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue(maxsize=queue_size)
        self.edge_dropped = 0
        self._silences_at = float("-inf")

    @property
    def errors(self) -> int:
        return self._loop.errors

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.stop(timeout)

    def wake(self, *_: object) -> None:
        """The aggregates moved: evaluate now (never blocks; any thread)."""
        self._loop.wake()

    def edge(self, agent_id: str, payload: bytes) -> None:
        """An edge alert batch from the MQTT thread: queued, never blocks."""
        self._put("edge", agent_id, payload)

    def retained(self, topic: str, payload: bytes) -> None:
        """A retained active alert the broker handed us (MQTT thread)."""
        self._put("retained", topic, payload)

    def republish(self) -> None:
        """The link came (back) up: publish the active set again (any thread)."""
        self._republish.set()
        self._loop.wake()

    def _put(self, kind: str, who: str, payload: bytes) -> None:
        try:
            self._inbox.put_nowait((kind, who, payload))
            self._loop.wake()
        except queue.Full:
            self.edge_dropped += 1
            log.warning("alert inbox full: a %s message from %s dropped", kind, who)

    def step(self) -> None:
        """One round: edge batches; and, where the role is held, silences and the rules."""
        held = self._holds()
        self._take_edge(held)
        clock = self.engine.clock
        if held and clock.monotonic() - self._silences_at >= self._silence_poll_s:
            self.engine.refresh_silences()
            self._silences_at = clock.monotonic()
        if held:
            self.engine.tick()

    def _take_edge(self, held: bool) -> None:
        if held and self._republish.is_set() and self._publisher is not None:
            self._republish.clear()
            self._publisher.republish(self.engine.store)
        while True:
            try:
                kind, who, payload = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "edge" and self._intake is not None:
                self._intake.take(who, payload)
            elif kind == "retained" and held and self._publisher is not None:
                self._publisher.retained(self.engine.store, who, payload)
