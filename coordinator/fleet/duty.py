"""The fleet duty: assign sensors to agents, move them when agents die, join or flap.

One thread, on the one replica that holds the fleet role (``cluster.singleton``; a lone
coordinator always does). Every ``tick_s``, and at once when the fleet
registry changes, it:

1. asks ``Liveness`` which agents are available (lost by last will or silence; back
   only after a hold-down);
2. re-plans when the available agents, the catalog or a pin changed, or an operator
   asked (``rebalance``), and moves handovers forward from what agents report running;
3. commits the new placements, the changed desired states and the events in one
   transaction, then publishes the desired states (retained, QoS 1);
4. tracks convergence: an agent whose reported generation stays behind its desired one
   for longer than ``converge_timeout_s`` is stuck (counted, listed by the API).

Sensors that changed owner recently are ``handover_sensors()``: ingest drops readings
of those sensors that the store already holds by ``(sensor_id, ts)`` (two owners of one
sensor for a moment produce the same readings; stored once, counted).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edgewatch.coordinator.duty_loop import DutyLoop
from edgewatch.coordinator.fleet.assignment.contract import AgentSpec, AssignmentStrategy
from edgewatch.coordinator.fleet.desired_book import AgentOrders, DesiredBook, Publish
from edgewatch.coordinator.fleet.liveness import Liveness
from edgewatch.coordinator.fleet.planner import Plan, Planner
from edgewatch.coordinator.fleet.registry import AgentRecord, FleetRegistry
from edgewatch.coordinator.store import CatalogSensor, Store
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.desired import ConfigOverrides, LocalSource

log = logging.getLogger(__name__)
# fleet_meta key a replica without the duty sets to ask the holder for a re-plan.
REBALANCE_REQUEST = "rebalance_requested"


@dataclass(frozen=True)
class Convergence:
    agent_id: str
    desired_generation: int
    reported_generation: int
    behind_since: float | None  # when the agent first lagged its desired state
    converged: bool
    stuck: bool


@dataclass(frozen=True)
class DutySettings:
    tick_s: float = 0.5
    timeout_s: float = 15.0
    hold_down_s: float = 30.0
    handover_timeout_s: float = 30.0
    handover_window_s: float = 120.0
    converge_timeout_s: float = 30.0
    catalog_poll_s: float = 5.0


def reported_of(record: AgentRecord) -> dict[str, Any]:
    beat = record.heartbeat or {}
    reported = beat.get("reported")
    return reported if isinstance(reported, dict) else {}


def agent_spec(record: AgentRecord) -> AgentSpec:
    beat = record.heartbeat or {}
    tier = record.tier if record.tier in ("low", "medium", "high") else "low"
    return AgentSpec(
        agent_id=record.id,
        tier=tier,  # type: ignore[arg-type]
        latitude=record.latitude,
        longitude=record.longitude,
        capacity=record.capacity,
        cpu_percent=beat.get("cpu_percent"),
        memory_percent=beat.get("memory_percent"),
        battery_percent=beat.get("battery_percent"),
        outbox_rows=int(beat.get("outbox_rows") or 0),
    )


class FleetDuty:
    def __init__(
        self,
        *,
        store: Store,
        fleet: FleetRegistry,
        strategy: AssignmentStrategy,
        publish: Publish,
        settings: DutySettings | None = None,
        clock: Clock = SYSTEM,
        on_stuck: Callable[[int], None] | None = None,
        model_orders: Callable[[], Mapping[str, AgentOrders]] | None = None,
        desired_config: ConfigOverrides | None = None,
        guard: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        # False once this replica may have lost the fleet role: act no more.
        self._guard = guard
        # What the model rollout wants each agent to run (shared.desired.ModelOrder).
        self.model_orders = model_orders
        self.fleet = fleet
        self.strategy = strategy
        self.settings = settings or DutySettings()
        s = self.settings
        self.clock = clock
        self._publish = publish
        self._on_stuck = on_stuck
        self.liveness = Liveness(s.timeout_s, s.hold_down_s, clock)
        self.planner = Planner(strategy, handover_timeout_s=s.handover_timeout_s, clock=clock)
        self.book = DesiredBook(store.desired_states(), clock=clock, config=desired_config)
        placements = store.placements()
        self.plan = Plan(placements, {}, {})
        self.changed_at: float | None = max((p.since for p in placements.values()), default=None)
        self._moved_at: dict[str, float] = {}
        self._behind: dict[str, float] = {}
        self._loop = DutyLoop("fleet-duty", self.tick, self.settings.tick_s)
        self._rebalance = threading.Event()
        self._republish = threading.Event()
        self._takers: tuple[tuple[str, ...], ...] = ()
        self._catalog_dirty = True
        self._catalog: dict[str, CatalogSensor] = {}
        self._catalog_read_at = float("-inf")
        self._requested = store.fleet_meta(REBALANCE_REQUEST)
        self._lock = threading.Lock()
        # Its own lock: ingest asks for handover sensors at every commit and must never
        # wait for a tick that is itself waiting on the store.
        self._moves_lock = threading.Lock()
        self.moves = 0
        self.ticks = 0

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.stop(timeout)

    def wake(self) -> None:
        """Something about the fleet changed: look now, not at the next tick."""
        self._loop.wake()

    def catalog_changed(self) -> None:
        self._catalog_dirty = True
        self._loop.wake()

    def republish(self) -> None:
        """The broker link came (back) up: publish every desired state again."""
        self._republish.set()
        self._loop.wake()

    def rebalance(self) -> None:
        """Re-plan now even if nothing changed (``POST /assignments/rebalance``)."""
        self._rebalance.set()
        self._loop.wake()

    # -- one tick -----------------------------------------------------------------------------

    def tick(self) -> None:
        """One look at the fleet (the thread calls it; tests call it on a manual clock)."""
        if not self._held():
            return
        if self._republish.is_set():
            self._republish.clear()
            self.book.publish_all(self._publish)
        with self._lock:
            self.ticks += 1
            records = {r.id: r for r in self.fleet.all()}
            change = self.liveness.observe(records.values())
            self._register_reported(records.values())
            catalog_changed = self._refresh_catalog()
            rebalance = self._rebalance.is_set()
            self._rebalance.clear()
            groups = self._groups(records, change.available)
            # Who may take what (availability, and what each agent says it can do: a
            # heartbeat can come before the hello that says "assigned"): re-plan on change.
            takers = tuple(tuple(a.agent_id for a in agents) for _, agents in groups)
            if takers != self._takers or catalog_changed or rebalance or self.ticks == 1:
                self._takers = takers
                reason = self._reason(change.lost, change.joined, catalog_changed, rebalance)
                self.plan = self.planner.plan(
                    groups, self.plan.placements, self.plan.handovers, reason
                )
            self.plan = self.planner.progress(self.plan, self._delivering(), change.available)
            orders = self.model_orders() if self.model_orders is not None else None
            docs = self.book.build(self.plan, self._catalog, change.available, orders)
            events = self.plan.events
            if (docs or events) and self._held():
                self.store.commit_plan(self.plan.placements, docs, events)
                self.plan = Plan(self.plan.placements, self.plan.unassigned, self.plan.handovers)
                now = self.clock.time()
                for e in events:
                    with self._moves_lock:
                        self._moved_at[e.sensor_id] = now
                if events:
                    self.moves += sum(1 for e in events if e.from_agent is not None)
                    self.changed_at = now
                    log.info(
                        "assignment changed: %d event(s), e.g. %s %s -> %s (%s)",
                        len(events),
                        events[0].sensor_id,
                        events[0].from_agent,
                        events[0].to_agent,
                        events[0].reason,
                    )
                for doc in docs:
                    self._publish(doc.agent_id, doc.document)
            self._track_convergence(records)

    def _held(self) -> bool:
        return self._guard is None or self._guard()

    def _register_reported(self, records: Iterable[AgentRecord]) -> None:
        """Sensors agents read on their own (their hello says which): registered as
        reachable by that agent only (origin ``reported``), never assigned elsewhere."""
        now = self.clock.time()
        fresh = []
        for rec in records:
            for own in rec.own_sensors:
                known = self._catalog.get(own.sensor_id)
                if known is not None and known.origin != "reported":
                    continue  # an operator's registration wins
                entry = CatalogSensor(
                    sensor_id=own.sensor_id,
                    sensor_type=own.sensor_type,
                    source=LocalSource(agent_id=rec.id),
                    latitude=own.latitude,
                    longitude=own.longitude,
                    pinned_to=rec.id,
                    origin="reported",
                    registered_at=known.registered_at if known else now,
                )
                if known != entry:
                    fresh.append(entry)
        if fresh:
            self.store.register_sensors(fresh)
            self._catalog_dirty = True

    def _delivering(self) -> dict[str, frozenset[str]]:
        """Per agent, the sensors in handover to it that it is seen delivering: the store
        holds a reading of the sensor, made since the handover began, from that agent.

        Not merely "reports it running": a site sensor's subscription travels on another
        connection than the report, so the old owner must not let go before readings of
        the new one have actually arrived.
        """
        found: dict[str, set[str]] = {}
        for sid, h in self.plan.handovers.items():
            seen = self.store.sensor(sid)
            if seen is not None and seen.agent_id == h.to_agent and seen.last_ts >= h.started:
                found.setdefault(h.to_agent, set()).add(sid)
        return {a: frozenset(s) for a, s in found.items()}

    def _groups(
        self, records: Mapping[str, AgentRecord], available: frozenset[str]
    ) -> list[tuple[list[CatalogSensor], list[AgentSpec]]]:
        """Site sensors go to agents with a site broker; simulated ones to any agent that
        follows assignments. An agent reading its own source gets none."""
        takers = [records[a] for a in sorted(available) if "assigned" in records[a].capabilities]
        site = [s for s in self._catalog.values() if s.source.kind == "site"]
        # A "local" sensor is read by its own agent from its own source: never assigned.
        clocked = [s for s in self._catalog.values() if s.source.kind == "simulated"]
        return [
            (site, [agent_spec(r) for r in takers if "site" in r.capabilities]),
            (clocked, [agent_spec(r) for r in takers]),
        ]

    def _refresh_catalog(self) -> bool:
        now = self.clock.monotonic()
        if not self._catalog_dirty and now - self._catalog_read_at < self.settings.catalog_poll_s:
            return False
        self._catalog_dirty = False
        self._catalog_read_at = now
        requested = self.store.fleet_meta(REBALANCE_REQUEST)
        if requested != self._requested:  # asked through another replica's API
            self._requested = requested
            self._rebalance.set()
        fresh = {s.sensor_id: s for s in self.store.catalog()}
        changed = fresh != self._catalog
        self._catalog = fresh
        return changed

    @staticmethod
    def _reason(lost: frozenset[str], joined: frozenset[str], catalog: bool, forced: bool) -> str:
        if forced:
            return "rebalance"
        if lost:
            return "agent_lost"
        if catalog:
            return "catalog_changed"
        return "agent_joined"

    def _track_convergence(self, records: Mapping[str, AgentRecord]) -> None:
        now = self.clock.time()
        stuck = 0
        for agent_id in self.book.agents():
            desired = self.book.generation(agent_id)
            rec = records.get(agent_id)
            reported = int(reported_of(rec).get("generation") or 0) if rec else 0
            if reported >= desired:
                self._behind.pop(agent_id, None)
                continue
            since = self._behind.setdefault(agent_id, now)
            if now - since > self.settings.converge_timeout_s:
                stuck += 1
        if self._on_stuck is not None:
            self._on_stuck(stuck)

    # -- views (API) ------------------------------------------------------------------------

    def convergence(self, agent_id: str) -> Convergence:
        with self._lock:
            desired = self.book.generation(agent_id)
            rec = self.fleet.get(agent_id)
            reported = int(reported_of(rec).get("generation") or 0) if rec else 0
            behind = self._behind.get(agent_id)
            stuck = (
                behind is not None and self.clock.time() - behind > self.settings.converge_timeout_s
            )
            return Convergence(agent_id, desired, reported, behind, reported >= desired, stuck)

    def handover_sensors(self) -> frozenset[str]:
        """Sensors that changed owner within ``handover_window_s`` (ingest dedupes them)."""
        now = self.clock.time()
        window = self.settings.handover_window_s
        with self._moves_lock:
            for sid in [s for s, t in self._moved_at.items() if now - t > window]:
                del self._moved_at[sid]
            return frozenset(self._moved_at)

    def assignments(self) -> dict[str, list[str]]:
        with self._lock:
            out: dict[str, list[str]] = {}
            for sid, p in sorted(self.plan.placements.items()):
                out.setdefault(p.agent_id, []).append(sid)
            return out

    def unassigned(self) -> dict[str, str]:
        with self._lock:
            return dict(self.plan.unassigned)
