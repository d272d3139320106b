"""Real resource figures for heartbeats: CPU and memory from the OS, battery when present.

Battery comes from the power-supply class (psutil reads /sys/class/power_supply); a box
without one (mains-powered Pi, container) reports a simulated battery, flagged as such,
so dashboards and low-battery alerts can be exercised without hiding that it is fake.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from edgewatch.shared.clock import SYSTEM, Clock


@dataclass(frozen=True, slots=True)
class Health:
    cpu_percent: float
    memory_percent: float
    rss_mb: float
    battery_percent: float | None
    battery_simulated: bool


class HealthProbe:
    # Simulated drain: a full charge lasts about this long (only when no battery exists).
    SIMULATED_HOURS = 48.0

    def __init__(self, *, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._process = psutil.Process()
        self._started = clock.monotonic()
        psutil.cpu_percent(None)  # primes the counter: the first real call measures from here

    def read(self) -> Health:
        battery = self._battery()
        return Health(
            cpu_percent=float(psutil.cpu_percent(None)),
            memory_percent=float(psutil.virtual_memory().percent),
            rss_mb=self._process.memory_info().rss / 1e6,
            battery_percent=battery[0],
            battery_simulated=battery[1],
        )

    def _battery(self) -> tuple[float | None, bool]:
        try:
            real = psutil.sensors_battery()
        except (OSError, NotImplementedError, AttributeError):
            real = None
        if real is not None:
            return float(real.percent), False
        hours = (self._clock.monotonic() - self._started) / 3600
        return max(0.0, 100.0 * (1 - hours / self.SIMULATED_HOURS)), True
