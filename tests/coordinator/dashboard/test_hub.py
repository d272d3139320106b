"""coordinator.dashboard.hub: every page gets the board once, then only what changed; a page
that stops reading is dropped and counted, never buffered for without bound."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry

from edgewatch.coordinator.dashboard.board import Alerts, Board, FleetRow, Models, Totals
from edgewatch.coordinator.dashboard.hub import DashboardMetrics, Hub
from edgewatch.coordinator.dashboard.series import Point
from edgewatch.coordinator.rescoring.agreement import SplitOut


def row(agent: str, state: str = "online", cpu: float = 10.0) -> FleetRow:
    return FleetRow(
        id=agent, state=state, tier="low", cpu_percent=cpu, memory_percent=5.0, rss_mb=60.0,
        battery_percent=None, battery_simulated=False, outbox_rows=0, outbox_oldest_age_s=0.0,
        sensors_desired=2, sensors_active=2, models={}, generation_desired=1,
        generation_reported=1, converged=True, stuck=False, last_heartbeat_at=1.0,
        conditions=[], scorer="rules",
    )  # fmt: skip


def board(t: float, fleet: list[FleetRow], points: list[Point]) -> Board:
    totals = Totals(
        readings_stored=int(t), anomalies_stored=0, duplicates_dropped=0, conflicts=0,
        rejected=0, agents=len(fleet), agents_online=len(fleet), alerts_open=0,
        alerts_critical=0, ingest_readings_per_s=1.0, queue_depth=0, broker_connected=True,
        scoring=SplitOut(readings=0, edge_model=0, edge_rules=0, cloud_rescored=0,
                         cloud_sample=0, cloud_no_model=0, agreement=None),
    )  # fmt: skip
    alerts = Alerts(active=[], recent=[], active_total=0, critical_open=0)
    models = Models(models=[], rollouts=[])
    return Board(
        now=t, version="x", totals=totals, fleet=fleet, series=points, alerts=alerts, models=models
    )


class Boards:
    """Hands out prepared boards in turn, as the service would build them."""

    def __init__(self, *boards: Board) -> None:
        self.boards = list(boards)

    def __call__(self) -> Board:
        return self.boards.pop(0) if len(self.boards) > 1 else self.boards[0]


def metrics() -> DashboardMetrics:
    return DashboardMetrics(CollectorRegistry())


def test_a_page_gets_the_board_then_only_changed_rows_and_new_points() -> None:
    p1, p2 = Point(1.0, 5.0, 0.0, 0.1, 0.2, {}), Point(2.0, 7.0, 1.0, 0.1, 0.3, {"t": 0.5})
    boards = Boards(
        board(1, [row("a"), row("b")], [p1]),
        board(2, [row("a"), row("b", cpu=90.0)], [p1, p2]),
        board(3, [row("a")], [p1, p2]),
    )

    async def scenario() -> list[tuple[str, dict[str, object]]]:
        hub = Hub(boards, metrics())
        client = await hub.subscribe()
        await hub.tick()
        await hub.tick()
        got = []
        while not client.queue.empty():
            event = client.queue.get_nowait()
            assert event is not None
            got.append((event.kind, json.loads(event.data)))
        return got

    (k0, snap), (k1, d1), (k2, d2) = asyncio.run(scenario())
    assert k0 == "snapshot" and [r["id"] for r in snap["fleet"]] == ["a", "b"]
    assert k1 == "delta" and [r["id"] for r in d1["fleet"]] == ["b"]
    assert d1["fleet"][0]["cpu_percent"] == 90.0 and [p["t"] for p in d1["points"]] == [2.0]
    assert k2 == "delta" and d2["fleet"] == [] and d2["removed"] == ["b"] and d2["points"] == []
    assert d1["alerts"] is None and d1["models"] is None  # unchanged: not sent again


def test_a_page_that_stops_reading_is_dropped_and_counted_and_others_go_on() -> None:
    registry = CollectorRegistry()
    m = DashboardMetrics(registry)

    async def scenario() -> tuple[bool, bool, int, int]:
        hub = Hub(Boards(board(1, [row("a")], [])), m, queue_max=4)
        slow = await hub.subscribe()
        fast = await hub.subscribe()
        for _ in range(10):
            await hub.tick()
            while not fast.queue.empty():
                fast.queue.get_nowait()
        # The slow page's queue holds only the end-of-stream sentinel now.
        leftover = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        return slow.dropped, fast.dropped, len(hub.clients), len(leftover)

    slow_dropped, fast_dropped, clients, leftover = asyncio.run(scenario())
    assert slow_dropped and not fast_dropped
    assert clients == 1 and leftover == 1
    assert registry.get_sample_value("edgewatch_dashboard_clients_dropped_total") == 1
    assert registry.get_sample_value("edgewatch_dashboard_clients") == 1


def test_nobody_watching_builds_nothing() -> None:
    calls = []

    def build() -> Board:
        calls.append(1)
        return board(1, [], [])

    async def scenario() -> None:
        hub = Hub(build, metrics())
        for _ in range(3):
            await hub.tick()

    asyncio.run(scenario())
    assert calls == []
