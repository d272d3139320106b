"""Fan-out of the board to every open page, with a bounded queue per page.

One task builds the board every ``interval_s`` (only while someone watches) and offers
each page the difference to the previous one. A page that stops reading fills its own
queue (``queue_max`` events) and is dropped: its stream ends, it is counted, and it
reconnects later with a fresh snapshot. The coordinator never buffers without bound for
a slow client, and one slow client never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from edgewatch.coordinator.dashboard.board import Board, delta

log = logging.getLogger(__name__)
_CLOSED = None  # the sentinel that ends a client's stream


@dataclass(frozen=True)
class Event:
    kind: str  # "snapshot" or "delta"
    data: str  # JSON


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[Event | None]
    dropped: bool = False
    sent: int = field(default=0)


class DashboardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.failed_logins = Counter(
            "edgewatch_dashboard_failed_logins",
            "Dashboard logins refused (wrong token)",
            registry=registry,
        )
        self.clients = Gauge(
            "edgewatch_dashboard_clients", "Dashboard pages connected", registry=registry
        )
        self.dropped = Counter(
            "edgewatch_dashboard_clients_dropped",
            "Dashboard pages dropped because they stopped reading (queue full)",
            registry=registry,
        )


class Hub:
    def __init__(
        self,
        build: Callable[[], Board],
        metrics: DashboardMetrics,
        *,
        interval_s: float = 1.0,
        queue_max: int = 16,
    ) -> None:
        self.build = build
        self.metrics = metrics
        self.interval_s = interval_s
        self.queue_max = queue_max
        self.clients: set[Client] = set()
        self.board: Board | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in list(self.clients):
            self._close(client)

    async def subscribe(self) -> Client:
        """A new page: its first event is the whole board as it stands now."""
        if self.board is None:
            self.board = await asyncio.to_thread(self.build)
        board = self.board
        client = Client(asyncio.Queue(self.queue_max))
        client.queue.put_nowait(Event("snapshot", board.model_dump_json()))
        self.clients.add(client)
        self.metrics.clients.set(len(self.clients))
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
        self.metrics.clients.set(len(self.clients))

    async def tick(self) -> None:
        """Build the board and offer the change to every page (one step of ``_run``)."""
        if not self.clients:
            self.board = None  # nobody watches: the next page gets a fresh build
            return
        board = await asyncio.to_thread(self.build)
        previous, self.board = self.board, board
        if previous is None:
            event = Event("snapshot", board.model_dump_json())
        else:
            event = Event("delta", delta(previous, board).model_dump_json())
        for client in list(self.clients):
            self.offer(client, event)

    def offer(self, client: Client, event: Event) -> None:
        try:
            client.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.metrics.dropped.inc()
            log.warning(
                "dashboard: dropped a page that stopped reading (%d events queued)",
                client.queue.qsize(),
            )
            self._close(client)

    def _close(self, client: Client) -> None:
        client.dropped = True
        self.unsubscribe(client)
        while not client.queue.empty():  # make room for the sentinel
            client.queue.get_nowait()
        client.queue.put_nowait(_CLOSED)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # never let one bad build end live updates for good
                log.exception("dashboard: building the board failed")
            await asyncio.sleep(self.interval_s)
