"""The model duty: one thread that moves rollouts, trains on schedule and publishes models.

Every ``tick_s`` (and at once when woken):

1. a signing key rotated by another process (``edgewatch keys rotate --db``) is picked
   up, and everything is published again with the new signatures;
2. rollouts move on (``RolloutController.tick``: readiness, soak, gate, completion);
3. packages of models now in use are published, those out of use cleared
   (``ModelPublisher.sync``), *before* the desired states that name them go out;
4. scheduled training runs when due (``TrainingSchedule.tick``).

Later held by one replica (a singleton duty, like the fleet duty).
"""

from __future__ import annotations

import logging
import threading

from edgewatch.coordinator.models.schedule import TrainingSchedule
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.rollout.controller import RolloutController
from edgewatch.coordinator.rollout.publisher import ModelPublisher

log = logging.getLogger(__name__)


class ModelDuty:
    def __init__(
        self,
        *,
        keyring: Keyring,
        controller: RolloutController,
        publisher: ModelPublisher,
        schedule: TrainingSchedule,
        tick_s: float = 1.0,
    ) -> None:
        self.keyring = keyring
        self.controller = controller
        self.publisher = publisher
        self.schedule = schedule
        self.tick_s = tick_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._republish = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-duty", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def republish(self) -> None:
        """The broker link came (back) up: the broker may have lost retained packages."""
        self._republish.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                # Like the fleet duty: a bad tick (a store hiccup, a bug) is logged, retried.
                log.exception("model duty tick failed")
            self._wake.wait(self.tick_s)
            self._wake.clear()

    def tick(self) -> None:
        self.ticks += 1
        if self.keyring.reload():
            self.keyring.resign_all()
            self._republish.set()
        if self._republish.is_set():
            self._republish.clear()
            self.publisher.publish_all()
        self.controller.tick()
        self.publisher.sync()
        self.schedule.tick()
