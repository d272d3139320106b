"""Leadership and SingletonDuty: one holder at a time, a fresh duty where the role is
taken, stopped where it is lost; the PostgreSQL lock freed by a dead or stalled holder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
import pytest

from edgewatch.coordinator.cluster.leadership import LocalLeadership, Tenure
from edgewatch.coordinator.cluster.pg_leadership import PgAdvisoryLeadership, lock_key
from edgewatch.coordinator.cluster.singleton import SingletonDuty
from edgewatch.shared.clock import ManualClock
from tests.support.procs import wait_until
from tests.support.stores import pg_url

__all__ = ["pg_url"]


@dataclass
class FakeDuty:
    log: list[str]
    n: int
    running: bool = False

    def start(self) -> None:
        self.running = True
        self.log.append(f"start {self.n}")

    def stop(self) -> None:
        self.running = False
        self.log.append(f"stop {self.n}")


@dataclass
class Duties:
    log: list[str] = field(default_factory=list)
    made: int = 0

    def make(self) -> FakeDuty:
        self.made += 1
        return FakeDuty(self.log, self.made)


@dataclass
class ScriptedLeadership:
    """A leadership whose arbiter says what the test wants (a fault injector)."""

    name: str = "scripted"
    grant: bool = True
    confirms: bool = True
    held: bool = False

    def try_acquire(self) -> bool:
        self.held = self.grant
        return self.held

    def confirm(self) -> bool:
        self.held = self.held and self.confirms
        return self.held

    def holds(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False


def test_tenure_ends_ttl_after_the_confirmation_began() -> None:
    clock = ManualClock()
    tenure = Tenure(5.0, clock)
    assert not tenure.valid()
    began = tenure.begin()
    clock.advance(2.0)  # the round trip took 2 s: the deadline still counts from its start
    tenure.confirmed(began)
    assert tenure.valid() and tenure.remaining() == pytest.approx(3.0)
    clock.advance(2.9)
    assert tenure.valid()
    clock.advance(0.2)
    assert not tenure.valid() and tenure.remaining() == 0.0
    tenure.confirmed(tenure.begin())
    tenure.lost()
    assert not tenure.valid()


def test_local_leadership_has_one_holder_per_name() -> None:
    a, b, other = LocalLeadership("x"), LocalLeadership("x"), LocalLeadership("y")
    try:
        assert a.try_acquire() and a.try_acquire()  # idempotent for the holder
        assert not b.try_acquire() and not b.holds()
        assert other.try_acquire()  # another role
        a.release()
        assert not a.holds() and b.try_acquire() and b.confirm()
    finally:
        for lead in (a, b, other):
            lead.release()


def test_a_singleton_runs_its_duty_on_one_holder_and_moves_on_release() -> None:
    first, second = Duties(), Duties()
    one = SingletonDuty("t", LocalLeadership("t-move"), first.make)
    two = SingletonDuty("t", LocalLeadership("t-move"), second.make)
    try:
        assert one.step() and one.running is not None
        assert not two.step() and two.running is None and second.made == 0
        assert one.step()  # confirmed: the same duty goes on
        assert first.log == ["start 1"]
        one.stop()  # gives the role up
        assert first.log == ["start 1", "stop 1"]
        assert two.step() and second.log == ["start 1"]
    finally:
        one.stop()
        two.stop()


def test_a_lost_role_stops_the_duty_and_a_new_one_is_built_when_regained() -> None:
    duties = Duties()
    lead = ScriptedLeadership()
    runner = SingletonDuty("t", lead, duties.make)
    assert runner.step()
    lead.confirms = False  # the arbiter gave the role to someone else
    assert not runner.step()
    assert duties.log == ["start 1", "stop 1"] and runner.lost == 1
    assert runner.running is None
    lead.confirms = True
    assert runner.step()  # taken again: a fresh duty, loading its state anew
    assert duties.log[-1] == "start 2" and runner.acquired == 2


def test_a_duty_that_fails_to_start_gives_the_role_back() -> None:
    lead = ScriptedLeadership()

    def broken() -> FakeDuty:
        raise RuntimeError("store down")

    runner = SingletonDuty("t", lead, broken)
    assert not runner.step() and not lead.holds()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("fleet") == lock_key("fleet") != lock_key("training")
    assert -(2**63) <= lock_key("fleet") < 2**63


def test_postgres_lock_has_one_holder_and_a_closed_session_frees_it(pg_url: str) -> None:
    a = PgAdvisoryLeadership(pg_url, "fleet", ttl_s=5)
    b = PgAdvisoryLeadership(pg_url, "fleet", ttl_s=5)
    other = PgAdvisoryLeadership(pg_url, "other", ttl_s=5)
    try:
        assert a.try_acquire() and a.holds() and a.confirm()
        assert not b.try_acquire() and not b.holds()
        assert other.try_acquire()  # another role, another lock
        # The holder dies: its socket closes, the server frees the lock at once.
        assert a._conn is not None
        a._conn.pgconn.finish()
        assert not a.confirm() and not a.holds()
        wait_until(b.try_acquire, 5, message="the lock of a closed session was not freed")
        a.release()
        assert b.confirm()
        b.release()
        assert a.try_acquire()
    finally:
        for lead in (a, b, other):
            lead.release()


def test_postgres_lock_of_a_stalled_holder_is_freed_after_its_ttl(pg_url: str) -> None:
    """A SIGSTOPped holder sends nothing: the server ends its session after ttl_s."""
    a = PgAdvisoryLeadership(pg_url, "fleet", ttl_s=1)
    b = PgAdvisoryLeadership(pg_url, "fleet", ttl_s=1)
    try:
        assert a.try_acquire()
        stalled_at = time.monotonic()
        assert not b.try_acquire()
        wait_until(b.try_acquire, 10, interval=0.2, message="a stalled holder kept the lock")
        assert time.monotonic() - stalled_at >= 1.0  # not before its ttl
        # The stalled holder wakes: it knows it lost before asking anyone ...
        assert not a.holds()
        # ... and the server agrees.
        assert not a.confirm()
        with psycopg.connect(pg_url) as admin:
            holders = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
        assert holders is not None and holders[0] == 1
    finally:
        a.release()
        b.release()
