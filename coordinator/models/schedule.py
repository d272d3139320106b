"""Scheduled training: retrain a type when enough time passed and enough new data came.

As the original notebook retrained every five minutes, but only when it is worth it:
per sensor type and model tier, a new model is trained when ``interval_s`` has passed
since the last model of that type and tier was made, and the store has received at
least ``min_new`` readings of the type since (``TrainingInfo.readings_seen``). A type
without a model is trained once it has enough data. The tiers are those of the agents
that can run a model (``medium``, ``high``); ``low`` agents score with rules.

Runs on the model duty's thread and on its clock (``tick``): tests move the clock.
With ``auto_rollout`` set (e.g. ``"10%"``) each new model starts a staged rollout at
once, and the quality gate decides: models that improve themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edgewatch.coordinator.models.errors import LifecycleError, NotEnoughData
from edgewatch.coordinator.models.registry import ModelRegistry
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.model_records import ModelRecord
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.modelpack import ModelTier

log = logging.getLogger(__name__)
MODEL_TIERS: tuple[ModelTier, ...] = ("medium", "high")


@dataclass(frozen=True)
class ScheduleSettings:
    interval_s: float = 0.0  # 0: no scheduled training
    min_new: int = 10_000
    auto_rollout: str | None = None


class TrainingSchedule:
    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        settings: ScheduleSettings,
        *,
        clock: Clock = SYSTEM,
        on_trained: Callable[[ModelRecord], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.on_trained = on_trained
        self._short: dict[tuple[str, str], int] = {}  # last "not enough data" count, logged once
        self._waiting: dict[tuple[str, str], float] = {}  # when data was short, not before

    def due(self) -> list[tuple[str, ModelTier]]:
        """(type, tier) pairs to train now, by the rules above."""
        if self.settings.interval_s <= 0:
            return []
        tiers = {a.tier for a in self.store.agents()} & set(MODEL_TIERS)
        readings: dict[str, int] = {}
        for s in self.store.sensors():
            readings[s.sensor_type] = readings.get(s.sensor_type, 0) + s.readings
        latest: dict[tuple[str, str], ModelRecord] = {}
        for m in self.store.models():
            latest[(m.sensor_type, m.tier)] = m  # ordered by id: the last one wins
        now = self.clock.time()
        # After "not enough data", look again only after a while (a query of the window
        # every tick would cost the store for nothing).
        retry = min(self.settings.interval_s, 600.0)
        found: list[tuple[str, ModelTier]] = []
        for sensor_type, seen in sorted(readings.items()):
            for tier in MODEL_TIERS:
                if (
                    tier not in tiers
                    or now - self._waiting.get((sensor_type, tier), -retry) < retry
                ):
                    continue
                last = latest.get((sensor_type, tier))
                if last is None:
                    found.append((sensor_type, tier))
                    continue
                old = now - last.created_at >= self.settings.interval_s
                if old and seen - last.training.readings_seen >= self.settings.min_new:
                    found.append((sensor_type, tier))
        return found

    def tick(self) -> list[ModelRecord]:
        made: list[ModelRecord] = []
        for sensor_type, tier in self.due():
            try:
                record = self.registry.train(sensor_type, tier)
            except NotEnoughData as exc:
                self._waiting[(sensor_type, tier)] = self.clock.time()
                if self._short.get((sensor_type, tier)) != exc.have:
                    self._short[(sensor_type, tier)] = exc.have
                    log.info("scheduled training of %s/%s waits: %s", sensor_type, tier, exc)
                continue
            except LifecycleError as exc:
                log.warning("scheduled training of %s/%s skipped: %s", sensor_type, tier, exc)
                continue
            made.append(record)
            if self.on_trained is not None:
                self.on_trained(record)
        return made
