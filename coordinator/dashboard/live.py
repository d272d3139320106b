"""``Dashboard``: the dashboard's moving parts for one running service."""

from __future__ import annotations

from edgewatch.coordinator.dashboard.board import build_board
from edgewatch.coordinator.dashboard.hub import DashboardMetrics, Hub
from edgewatch.coordinator.dashboard.series import LiveSeries
from edgewatch.coordinator.service import CoordinatorService


class Dashboard:
    """The chart series and the hub; started and stopped by the app's lifespan."""

    def __init__(self, service: CoordinatorService, metrics: DashboardMetrics) -> None:
        self.series = LiveSeries(service.store)
        self.hub = Hub(lambda: build_board(service, self.series), metrics)

    def start(self) -> None:
        """Call from the event loop (the hub is an asyncio task)."""
        self.series.start()
        self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        self.series.stop()


__all__ = ["Dashboard", "DashboardMetrics"]
