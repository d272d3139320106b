"""What is PostgreSQL's own in its enrollments, tokens and audit log: replicas racing for
one identity or one revocation, audit ids that commit in the order they were drawn, and
errors that never carry a token digest. (What every store must do is in the contract.)"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store.postgres import security
from edgewatch.coordinator.store.postgres.store import PostgresStore
from edgewatch.coordinator.store.security_records import ApiToken, AuditEntry, Enrollment
from tests.support.stores import pg_url

__all__ = ["pg_url"]
RACERS = 8


@pytest.fixture
def replicas(pg_url: str) -> Iterator[list[PostgresStore]]:
    """Two stores on one database: two coordinator replicas."""
    stores = [PostgresStore(pg_url, pool_size=RACERS), PostgresStore(pg_url, pool_size=RACERS)]
    yield stores
    for store in stores:
        store.close()


def _race(replicas: list[PostgresStore], call: Callable[[PostgresStore, int], bool]) -> int:
    """``RACERS`` threads over both replicas start ``call`` together; how many got True."""
    start = threading.Barrier(RACERS)

    def run(i: int) -> bool:
        start.wait(10)
        return call(replicas[i % 2], i)

    with ThreadPoolExecutor(RACERS) as pool:
        return sum(pool.map(run, range(RACERS)))


def _enrollment(identity: str, at: float) -> Enrollment:
    return Enrollment(identity, "agent", identity, f"edgewatch-agent-{identity}", at, "test")


def _enroll_revoke_enroll(replicas: list[PostgresStore], identity: str) -> None:
    assert _race(replicas, lambda s, i: s.enroll(_enrollment(identity, float(i)))) == 1
    assert _race(replicas, lambda s, i: s.revoke_enrollment(identity, 50.0, f"op{i}")) == 1
    revoked = replicas[0].enrollment(identity)
    assert revoked is not None and not revoked.active
    # Revoked: it may come back, once.
    assert _race(replicas, lambda s, i: s.enroll(_enrollment(identity, 100.0 + i))) == 1
    again = replicas[1].enrollment(identity)
    assert again is not None and again.active and again.enrolled_at >= 100.0
    assert again.revoked_at is None and again.revoked_by is None


def test_replicas_enrolling_and_revoking_one_identity_at_once_win_once(
    replicas: list[PostgresStore],
) -> None:
    for n in range(5):
        _enroll_revoke_enroll(replicas, f"pi-{n}")
    assert [e.identity for e in replicas[0].enrollments()] == [f"pi-{n}" for n in range(5)]


def test_replicas_revoking_one_token_at_once_win_once(replicas: list[PostgresStore]) -> None:
    replicas[0].add_token(ApiToken("t1", "grafana", "read", 1.0, "test"), "d" * 64)
    assert _race(replicas, lambda s, i: s.revoke_token("t1", float(i))) == 1
    found = replicas[1].token_by_digest("d" * 64)
    assert found is not None and not found.active


def test_an_audit_id_commits_after_every_smaller_one(replicas: list[PostgresStore]) -> None:
    """An append waits for one in flight, so a reader paging by id never skips an entry
    that commits late: once it sees an id, every smaller id is committed."""
    first, second = replicas
    entry = AuditEntry(1.0, "ops", "POST /x", "/x", "10.0.0.1", "201")
    appended: list[int] = []
    with first._transaction() as conn:
        held = security.add_audit(conn, entry)  # drawn, not committed
        late = threading.Thread(target=lambda: appended.append(second.add_audit(entry)))
        late.start()
        late.join(0.5)
        assert late.is_alive()  # waits for the open append
        assert second.audit_entries(0, 10) == []
    late.join(10)
    assert appended and appended[0] > held
    assert [e.entry_id for e in second.audit_entries(0, 10)] == [held, appended[0]]


def test_concurrent_audit_appends_page_completely(replicas: list[PostgresStore]) -> None:
    seen: list[int] = []
    done = threading.Event()

    def page() -> None:
        after = 0
        while True:
            finished = done.is_set()
            for e in replicas[1].audit_entries(after, 7):
                seen.append(e.entry_id)
                after = e.entry_id
            if finished and not replicas[1].audit_entries(after, 1):
                return

    reader = threading.Thread(target=page)
    reader.start()
    entry = AuditEntry(1.0, "ops", "POST /x", "/x", "10.0.0.1", "201")
    with ThreadPoolExecutor(RACERS) as pool:
        ids = list(pool.map(lambda n: replicas[n % 2].add_audit(entry), range(200)))
    done.set()
    reader.join(30)
    assert seen == sorted(ids)


def test_a_taken_digest_is_refused_without_the_digest_in_the_error(
    replicas: list[PostgresStore],
) -> None:
    digest = "d" * 64
    replicas[0].add_token(ApiToken("t1", "grafana", "read", 1.0, "test"), digest)
    with pytest.raises(WriteRefused) as caught:
        replicas[1].add_token(ApiToken("t2", "other", "admin", 2.0, "test"), digest)
    assert digest not in "".join(traceback.format_exception(caught.value))
    assert [t.token_id for t in replicas[0].tokens()] == ["t1"]
