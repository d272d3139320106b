"""The model lifecycle's parts, wired for one coordinator: keyring, registry, schedule,
rollout controller, publisher, model duty and cloud re-scoring.

Built with the service (the keyring is opened at once: a missing or foreign key file is
a ``ConfigError`` before anything starts); ``attach`` connects it to the fleet registry
and the MQTT link once those exist. The model duty (rollouts, scheduled training,
publishing) runs beside the fleet duty on the replica that holds the ``fleet`` role
(``held``), so the orders it computes are where the desired states are built; the API's
calls (train, start, promote, roll back) work on any replica, through the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from edgewatch.coordinator.fleet.desired_book import AgentOrders
from edgewatch.coordinator.fleet.duty import FleetDuty
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.models.errors import LifecycleError
from edgewatch.coordinator.models.registry import ModelRegistry, TrainingSettings
from edgewatch.coordinator.models.schedule import ScheduleSettings, TrainingSchedule
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.models.store_data import DataSettings
from edgewatch.coordinator.rescoring.consumer import RescoringConsumer
from edgewatch.coordinator.rescoring.metrics import RescoringCollector
from edgewatch.coordinator.rollout.controller import RolloutController, RolloutSettings
from edgewatch.coordinator.rollout.duty import ModelDuty
from edgewatch.coordinator.rollout.fleet_view import LiveFleet
from edgewatch.coordinator.rollout.gate import GateSettings
from edgewatch.coordinator.rollout.publisher import ModelPublisher
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import ModelRecord
from edgewatch.shared.mqtt import MqttLink
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)


def gate_settings(s: CoordinatorSettings) -> GateSettings:
    return GateSettings(
        soak_s=s.gate_soak_s,
        min_readings=s.gate_min_readings,
        rate_low=s.gate_rate_low,
        rate_high=s.gate_rate_high,
        max_shift=s.gate_max_shift,
        min_agreement=s.gate_min_agreement,
    )


class ModelLifecycle:
    def __init__(
        self,
        settings: CoordinatorSettings,
        store: Store,
        topics: Topics,
        metrics: CoordinatorMetrics,
    ) -> None:
        self.settings = settings
        self.store = store
        self.topics = topics
        self.keyring = Keyring.open(store, settings.model_key_path)
        log.info("model signing: key %s (%s)", self.keyring.key_id, settings.model_key_path)
        data = DataSettings(
            window_s=settings.train_window_s,
            min_rows=settings.train_min_rows,
            max_rows=settings.train_max_rows,
        )
        self.registry = ModelRegistry(store, self.keyring, TrainingSettings(data=data))
        self.rescoring = RescoringConsumer(store, sample=settings.rescore_sample)
        metrics.registry.register(RescoringCollector(store, self.rescoring))
        self.rollouts: RolloutController | None = None
        self.publisher: ModelPublisher | None = None
        self.duty: ModelDuty | None = None
        self._schedule: TrainingSchedule | None = None
        self._fleet_duty: Callable[[], FleetDuty | None] = lambda: None
        self._lock = threading.Lock()

    def attach(
        self,
        fleet: FleetRegistry,
        link: MqttLink,
        fleet_duty: Callable[[], FleetDuty | None],
    ) -> None:
        """Connect to the fleet registry and the link; ``fleet_duty`` is the running fleet
        duty where this replica holds the fleet role (else None)."""

        def publish(topic: str, payload: bytes) -> bool:
            return link.publish(topic, payload, qos=1, retain=True) is not None

        self._fleet_duty = fleet_duty
        self.publisher = ModelPublisher(self.store, self.keyring, self.topics, publish)
        self.rollouts = RolloutController(
            self.store,
            LiveFleet(fleet, self.store),
            RolloutSettings(gate=gate_settings(self.settings)),
            on_change=self._orders_changed,
        )
        self._schedule = TrainingSchedule(
            self.store,
            self.registry,
            ScheduleSettings(
                interval_s=self.settings.train_interval_s,
                min_new=self.settings.train_min_new,
                auto_rollout=self.settings.auto_rollout,
            ),
            on_trained=self._auto_rollout,
        )

    def orders(self) -> Mapping[str, AgentOrders]:
        """Per agent, the models to run (the fleet duty puts them in desired states)."""
        return self.rollouts.orders() if self.rollouts is not None else {}

    def prepare(self) -> None:
        """Before a fleet duty starts here: orders computed, their packages published, so
        its first desired states name the models agents run (never none for a moment)."""
        if self.rollouts is not None and self.publisher is not None:
            self.rollouts.refresh()
            self.publisher.sync()

    def held(self, held: bool) -> None:
        """The fleet role was taken (True) or lost (False) here: the model duty (rollouts,
        scheduled training, publishing) runs beside the fleet duty, on one replica."""
        with self._lock:
            if held and self.duty is None:
                if self.rollouts is None or self.publisher is None or self._schedule is None:
                    raise RuntimeError("ModelLifecycle.held before attach")
                self.duty = ModelDuty(
                    keyring=self.keyring,
                    controller=self.rollouts,
                    publisher=self.publisher,
                    schedule=self._schedule,
                )
                self.duty.republish()  # a new holder publishes every package once
                self.duty.start()
            elif not held and self.duty is not None:
                self.duty.stop()
                self.duty = None

    def stop(self) -> None:
        self.held(False)

    def republish(self) -> None:
        duty = self.duty
        if duty is not None:
            duty.republish()

    def _orders_changed(self) -> None:
        # Where the model duty runs: packages first, then the desired states that name
        # them. Elsewhere (an API call on another replica) the holder's next tick sees it.
        if self.duty is None or self.publisher is None:
            return
        self.publisher.sync()
        fleet_duty = self._fleet_duty()
        if fleet_duty is not None:
            fleet_duty.wake()

    def _auto_rollout(self, record: ModelRecord) -> None:
        spec = self.settings.auto_rollout
        if spec is None or self.rollouts is None:
            return
        try:
            rollout = self.rollouts.start(record.id, spec)
            log.info("auto rollout %d of model %d (%s)", rollout.id, record.id, spec)
        except LifecycleError as exc:
            log.info("no auto rollout of model %d: %s", record.id, exc)
