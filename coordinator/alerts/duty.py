"""The alert duty: the engine's timer work in one thread (one replica, later).

Every ``tick_s``, and at once when the aggregates moved (``wake``), it evaluates the
threshold rules (``AlertEngine.tick``); it also takes the edge alert batches the MQTT
thread queued (bounded: a full queue drops the batch, the agent resends it) and re-reads
silences every ``silence_poll_s``.
"""

from __future__ import annotations

import logging
import queue
import threading

from edgewatch.coordinator.alerts.edge import EdgeAlertIntake
from edgewatch.coordinator.alerts.engine import AlertEngine
from edgewatch.coordinator.alerts.publisher import AlertPublisher
from edgewatch.coordinator.errors import StoreError

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
    ) -> None:
        self.engine = engine
        self._intake = intake
        self._publisher = publisher
        self._republish = threading.Event()
        self._tick_s = tick_s
        self._silence_poll_s = silence_poll_s
        self._min_gap_s = min_gap_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        # (kind, agent id or topic, payload) from the MQTT thread: "edge" or "retained".
        self._inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.edge_dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alert-duty", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self, *_: object) -> None:
        """The aggregates moved: evaluate now (never blocks; any thread)."""
        self._wake.set()

    def edge(self, agent_id: str, payload: bytes) -> None:
        """An edge alert batch from the MQTT thread: queued, never blocks."""
        self._put("edge", agent_id, payload)

    def retained(self, topic: str, payload: bytes) -> None:
        """A retained active alert the broker handed us (MQTT thread)."""
        self._put("retained", topic, payload)

    def republish(self) -> None:
        """The link came (back) up: publish the active set again (any thread)."""
        self._republish.set()
        self._wake.set()

    def _put(self, kind: str, who: str, payload: bytes) -> None:
        try:
            self._inbox.put_nowait((kind, who, payload))
            self._wake.set()
        except queue.Full:
            self.edge_dropped += 1
            log.warning("alert inbox full: a %s message from %s dropped", kind, who)

    def _run(self) -> None:
        silences_at = 0.0
        clock = self.engine.clock
        while not self._stop.is_set():
            try:
                self._take_edge()
                if clock.monotonic() - silences_at >= self._silence_poll_s:
                    self.engine.refresh_silences()
                    silences_at = clock.monotonic()
                self.engine.tick()
            except StoreError:
                self.errors += 1
                log.exception("alert tick failed; trying again")
            except Exception:
                # The duty must outlive a bug in one tick: logged with its traceback.
                self.errors += 1
                log.exception("alert tick failed unexpectedly")
            self._wake.wait(self._tick_s)
            self._wake.clear()
            self._stop.wait(self._min_gap_s)  # a busy feed must not spin the engine

    def _take_edge(self) -> None:
        if self._republish.is_set() and self._publisher is not None:
            self._republish.clear()
            self._publisher.republish(self.engine.store)
        while True:
            try:
                kind, who, payload = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "edge" and self._intake is not None:
                self._intake.take(who, payload)
            elif kind == "retained" and self._publisher is not None:
                self._publisher.retained(self.engine.store, who, payload)
