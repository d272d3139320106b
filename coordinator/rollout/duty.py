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

import threading

from edgewatch.coordinator.duty_loop import DutyLoop
from edgewatch.coordinator.models.schedule import TrainingSchedule
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.rollout.controller import RolloutController
from edgewatch.coordinator.rollout.publisher import ModelPublisher


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
        self._republish = threading.Event()
        self._loop = DutyLoop("model-duty", self.tick, tick_s)
        self.ticks = 0

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)

    def wake(self) -> None:
        self._loop.wake()

    def republish(self) -> None:
        """The broker link came (back) up: the broker may have lost retained packages."""
        self._republish.set()
        self._loop.wake()

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
