"""The model lifecycle's parts, wired for one coordinator: keyring, registry, schedule,
rollout controller, publisher, model duty and cloud re-scoring.

Built with the service (the keyring is opened at once: a missing or foreign key file is
a ``ConfigError`` before anything starts); ``attach`` connects it to the fleet (registry,
fleet duty, MQTT link) once those exist; ``start``/``stop`` run its duty thread.
"""

from __future__ import annotations

import logging

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
        self._fleet_duty: FleetDuty | None = None

    def attach(self, fleet: FleetRegistry, fleet_duty: FleetDuty, link: MqttLink) -> None:
        def publish(topic: str, payload: bytes) -> bool:
            return link.publish(topic, payload, qos=1, retain=True) is not None

        self._fleet_duty = fleet_duty
        self.publisher = ModelPublisher(self.store, self.keyring, self.topics, publish)
        view = LiveFleet(fleet, self.store, fleet_duty.sensor_types)
        self.rollouts = RolloutController(
            self.store,
            view,
            RolloutSettings(gate=gate_settings(self.settings)),
            on_change=self._orders_changed,
        )
        fleet_duty.model_orders = self.rollouts.orders
        schedule = TrainingSchedule(
            self.store,
            self.registry,
            ScheduleSettings(
                interval_s=self.settings.train_interval_s,
                min_new=self.settings.train_min_new,
                auto_rollout=self.settings.auto_rollout,
            ),
            on_trained=self._auto_rollout,
        )
        self.duty = ModelDuty(
            keyring=self.keyring,
            controller=self.rollouts,
            publisher=self.publisher,
            schedule=schedule,
        )

    def start(self) -> None:
        if self.rollouts is not None:
            self.rollouts.refresh()  # the fleet duty's first documents carry the orders
        if self.duty is not None:
            self.duty.start()

    def stop(self) -> None:
        if self.duty is not None:
            self.duty.stop()

    def republish(self) -> None:
        if self.duty is not None:
            self.duty.republish()

    def _orders_changed(self) -> None:
        # Packages first, then the desired states that name them.
        if self.publisher is not None:
            self.publisher.sync()
        if self._fleet_duty is not None:
            self._fleet_duty.wake()

    def _auto_rollout(self, record: ModelRecord) -> None:
        spec = self.settings.auto_rollout
        if spec is None or self.rollouts is None:
            return
        try:
            rollout = self.rollouts.start(record.id, spec)
            log.info("auto rollout %d of model %d (%s)", rollout.id, record.id, spec)
        except LifecycleError as exc:
            log.info("no auto rollout of model %d: %s", record.id, exc)
