"""The fleet duty among replicas: it acts only while its role is held, takes a rebalance
asked through another replica's API from the store, and a replica without the duty
learns the recent moves from the store (manual clock, real SQLite, real registry)."""

from __future__ import annotations

from pathlib import Path

from edgewatch.coordinator.fleet.assignment.registry import make_strategy
from edgewatch.coordinator.fleet.duty import REBALANCE_REQUEST, DutySettings, FleetDuty
from edgewatch.coordinator.fleet.recent_moves import RecentMoves
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.fleet.simulated import register_simulated_fleet
from edgewatch.coordinator.store import AssignmentEvent, SqliteStore
from edgewatch.shared.clock import ManualClock

from .test_duty import Fleet, Published


def _duty(
    tmp_path: Path, guard: list[bool] | None = None
) -> tuple[FleetDuty, Fleet, Published, ManualClock, SqliteStore]:
    clock = ManualClock(wall=1_800_000_000.0)
    store = SqliteStore(tmp_path / "fleet.db")
    register_simulated_fleet(store, 12, seed=3, rate_hz=1.0, now=clock.time())
    registry = FleetRegistry()
    published = Published()
    duty = FleetDuty(
        store=store,
        fleet=registry,
        strategy=make_strategy("round_robin"),
        publish=published,
        settings=DutySettings(catalog_poll_s=5.0),
        clock=clock,
        guard=None if guard is None else (lambda: guard[0]),
    )
    return duty, Fleet(registry, clock), published, clock, store


def test_a_duty_whose_role_is_lost_neither_commits_nor_publishes(tmp_path: Path) -> None:
    held = [False]
    duty, fleet, published, _, store = _duty(tmp_path, held)
    try:
        fleet.hello("a")
        duty.tick()
        assert published.count == 0 and store.placements() == {}
        held[0] = True
        duty.tick()
        assert published.count == 1 and len(store.placements()) == 12
    finally:
        store.close()


def test_a_rebalance_asked_through_another_replica_is_carried_out(tmp_path: Path) -> None:
    duty, fleet, _, clock, store = _duty(tmp_path)
    try:
        for a in ("a", "b"):
            fleet.hello(a)
        duty.tick()
        assert not duty._rebalance.is_set()
        store.set_fleet_meta(REBALANCE_REQUEST, "1800000001.0")  # another replica's API
        clock.advance(1)
        assert not duty._refresh_catalog() and not duty._rebalance.is_set()  # not polled yet
        clock.advance(5)  # the duty reads the store at its catalog poll
        duty._refresh_catalog()
        assert duty._rebalance.is_set()  # the next tick re-plans with reason "rebalance"
        duty.tick()
        assert not duty._rebalance.is_set()
        clock.advance(6)
        duty._refresh_catalog()
        assert not duty._rebalance.is_set()  # the same request is carried out once
        # A new duty (another replica taking the role) does not replay an old request.
        again = FleetDuty(
            store=store,
            fleet=FleetRegistry(),
            strategy=make_strategy("round_robin"),
            publish=Published(),
            clock=clock,
        )
        clock.advance(6)
        again._refresh_catalog()
        assert not again._rebalance.is_set()
    finally:
        store.close()


def test_a_replica_without_the_duty_learns_recent_moves_from_the_store(tmp_path: Path) -> None:
    clock = ManualClock(wall=1_800_000_000.0)
    store = SqliteStore(tmp_path / "moves.db")
    try:
        moves = RecentMoves(store, window_s=120, refresh_s=1, clock=clock)
        assert moves.sensors() == frozenset()
        now = clock.time()
        store.commit_plan(
            {},
            [],
            [
                AssignmentEvent(now - 200, "old", "a", "b", "agent_lost"),
                AssignmentEvent(now - 10, "s-1", "a", "b", "agent_lost"),
                AssignmentEvent(now, "s-2", None, "b", "catalog_changed"),
            ],
        )
        assert moves.sensors() == frozenset()  # read at most once a second
        clock.advance(1)
        assert moves.sensors() == {"s-1", "s-2"}
        clock.advance(115)
        assert moves.sensors() == {"s-2"}  # s-1 moved 125 s ago: out of the window
    finally:
        store.close()
