"""The coordinator's enrollment gate, on a real store and a clock the test moves."""

from __future__ import annotations

from pathlib import Path

from edgewatch.coordinator.ingest.judge import Refused
from edgewatch.coordinator.security.enrollment_gate import EnrollmentGate
from edgewatch.coordinator.store import SqliteStore
from edgewatch.coordinator.store.security_records import Enrollment
from edgewatch.shared.clock import ManualClock
from tests.support.coordinator import make_batch


class CountingStore(SqliteStore):
    reads = 0

    def enrollments(self) -> list[Enrollment]:
        self.reads += 1
        return super().enrollments()


def _enroll(store: SqliteStore, identity: str, role: str = "agent") -> None:
    store.enroll(Enrollment(identity, role, identity, identity, 1.0, "test"))


def test_only_active_agent_enrollments_pass(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "s.db")
    clock = ManualClock()
    gate = EnrollmentGate(store, clock=clock)
    _enroll(store, "pi-1")
    _enroll(store, "coordinator", role="coordinator")
    ok = make_batch("pi-1", 3)
    assert gate(ok) is ok
    refused = gate(make_batch("coordinator", 4))  # enrolled, but not as an agent
    assert isinstance(refused, Refused)
    assert (refused.reason, refused.agent_id, refused.readings) == (
        "not_enrolled",
        "coordinator",
        4,
    )
    assert refused.ack is None  # never acked: the sender is not one of ours
    store.revoke_enrollment("pi-1", 2.0, "test")
    assert gate(ok) is ok  # within the refresh period the last list stands
    clock.advance(5.0)
    assert isinstance(gate(ok), Refused)
    store.close()


def test_an_unknown_agent_costs_one_store_read_per_second(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "s.db")
    clock = ManualClock()
    gate = EnrollmentGate(store, clock=clock)
    for _ in range(100):
        gate(make_batch("intruder", 1))
    assert store.reads == 1
    _enroll(store, "pi-new")
    clock.advance(1.0)
    assert gate(make_batch("pi-new", 1)).agent_id == "pi-new"
    assert not isinstance(gate(make_batch("pi-new", 1)), Refused)  # admitted within 1 s
    assert store.reads == 2
    already = Refused("json", None)
    assert gate(already) is already  # a refusal stays what it was
    store.close()
