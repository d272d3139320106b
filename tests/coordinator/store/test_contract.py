"""The store contract, one suite run against every store (``STORES``).

Whatever the database, a store must: keep each reading once under its key, tell a
resend (same content, however it is batched) from a conflict (same key, other content)
and never overwrite the stored reading; commit counters, quarantine and fleet records
with the readings; page through readings in a total order; list what it committed as a
feed whose consumers move their watermark atomically with their output; count a
retained refusal once. Every store kind of ``tests.support.stores`` (SQLite, and
PostgreSQL on a database of the test's own) must pass all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.store import (
    Quarantined,
    ReadingQuery,
    Refusal,
    SensorActivity,
    Store,
    WriteSet,
)
from edgewatch.coordinator.store.location import StoreLocation, open_store
from edgewatch.coordinator.store.security_records import ApiToken, AuditEntry, Enrollment
from edgewatch.shared.schemas import ModelRef
from tests.support.coordinator import make_batch, rechunk
from tests.support.stores import store_location

__all__ = ["store_location"]  # the fixture, parametrised over every store kind

StoreFactory = Callable[[], Store]


@pytest.fixture
def reopen(store_location: StoreLocation) -> Iterator[StoreFactory]:
    """Opens the same store again each time it is called (a restart)."""
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(store_location)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(reopen: StoreFactory) -> Store:
    return reopen()


# -- readings and dedupe ----------------------------------------------------------------


def test_new_rows_are_stored_and_a_rechunked_resend_is_a_duplicate(store: Store) -> None:
    batch = make_batch("a", 10, epoch=2, first_seq=5, ts=1_700_000_000.0)
    first = store.write(WriteSet(batches=[batch]))
    # The same readings again, cut into other batches, plus two new ones at the end.
    tail = make_batch("a", 12, epoch=2, first_seq=5, ts=1_700_000_001.0)
    again = store.write(WriteSet(batches=[rechunk(batch, 0, 6), rechunk(tail, 6, 6)]))
    assert [(o.stored, o.duplicates, o.conflicts) for o in first.outcomes] == [(10, 0, ())]
    outcomes = [(o.stored, o.duplicates, o.conflicts) for o in again.outcomes]
    # ``tail`` is another batch (made later: other timestamps), so its seqs 11-14 are
    # other readings under keys ``batch`` holds: conflicts. Its seqs 15-16 are new.
    assert outcomes[0] == (0, 6, ())
    assert outcomes[1] == (2, 0, (11, 12, 13, 14))
    seqs = [r.seq for r in store.readings(ReadingQuery(agent_id="a"))]
    assert seqs == list(range(5, 17))


def test_same_key_other_content_is_a_conflict_and_never_overwrites(store: Store) -> None:
    genuine = make_batch("a", 6)
    store.write(WriteSet(batches=[genuine]))
    forged = genuine.model_copy(
        update={"metrics": {**genuine.metrics, "temperature": [99.0] * 6}, "anomaly": [True] * 6}
    )
    partly = rechunk(forged, 2, 2)  # seqs 2-3 forged
    result = store.write(WriteSet(batches=[partly, rechunk(genuine, 4, 2)]))
    assert [(o.stored, o.duplicates, o.conflicts) for o in result.outcomes] == [
        (0, 0, (2, 3)),
        (0, 2, ()),
    ]
    stored = store.readings(ReadingQuery(agent_id="a"))
    assert [r.metrics["temperature"] for r in stored] == genuine.metrics["temperature"]
    assert not any(r.anomaly for r in stored)
    counters = store.counters()
    assert counters.fleet.conflicts == 2 and counters.agents["a"].conflicts == 2
    assert counters.fleet.duplicates_dropped == 2 and counters.fleet.anomalies_stored == 0


def test_counters_quarantine_and_agents_commit_together_and_survive(
    reopen: StoreFactory,
) -> None:
    store = reopen()
    batch = make_batch("a", 3)
    kept = Quarantined("a", 7, 0, 2, b"{}", 1.0)
    rec = AgentRecord(
        id="pi-3",
        first_seen=1.0,
        last_seen=2.0,
        state="online",
        tier="high",
        models={"industrial": ModelRef(version=4)},
        heartbeat={"cpu_percent": 3.5},
        heartbeat_at=2.0,
    )
    store.write(WriteSet(batches=[batch], refusals=[Refusal("json", None)], agents=[rec]))
    store.write(
        WriteSet(
            batches=[batch],
            refusals=[Refusal("ts_future", "a", readings=3, kept=kept)],
            agents=[AgentRecord(id="pi-1", first_seen=1.0, last_seen=1.0)],
        )
    )
    store.close()
    store = reopen()
    snap = store.counters()
    assert snap.fleet.readings_received == 9 and snap.fleet.readings_stored == 3
    assert snap.fleet.duplicates_dropped == 3
    assert snap.fleet.rejected == {"json": 1, "ts_future": 1}
    assert list(snap.agents) == ["a"]  # the unattributed refusal is fleet-wide only
    assert store.agent("pi-3") == rec
    assert [a.id for a in store.agents()] == ["pi-1", "pi-3"]
    assert store.agent("nobody") is None


def test_anomalies_are_counted_once_even_when_a_batch_is_resent(store: Store) -> None:
    flagged = make_batch("a", 9).model_copy(update={"anomaly": [True, False, True] * 3})
    store.write(WriteSet(batches=[rechunk(flagged, 0, 6)]))
    store.write(WriteSet(batches=[rechunk(flagged, 0, 6)]))  # a resend stores nothing
    # Seqs 3-5 are stored already; only 6-8 are new, two of them anomalies.
    result = store.write(WriteSet(batches=[rechunk(flagged, 3, 6)]))
    assert result.outcomes[0].anomalies == 2
    assert store.counters().fleet.anomalies_stored == 4 + 2


def test_readings_page_through_a_total_order(store: Store) -> None:
    late = make_batch("b", 5, first_seq=100, ts=1_700_000_100.0)
    early = make_batch("a", 6, ts=1_700_000_000.0)
    flagged = make_batch("c", 4, ts=1_700_000_050.0).model_copy(
        update={"anomaly": [False, True, True, False]}
    )
    store.write(WriteSet(batches=[late, early, flagged]))
    everything = store.readings(ReadingQuery())
    assert [r.ts for r in everything] == sorted(r.ts for r in everything)
    assert [r.agent_id for r in everything] == ["a"] * 6 + ["c"] * 4 + ["b"] * 5
    paged, after = [], None
    while page := store.readings(ReadingQuery(limit=4, after=after)):
        paged += page
        last = page[-1]
        after = (last.ts, last.agent_id, last.epoch, last.seq)
    assert paged == everything
    backwards = store.readings(ReadingQuery(descending=True, limit=3))
    assert backwards == everything[::-1][:3]
    rest = store.readings(
        ReadingQuery(descending=True, after=(backwards[-1].ts, "b", 1, backwards[-1].seq))
    )
    assert rest == everything[::-1][3:]
    assert [r.seq for r in store.readings(ReadingQuery(anomaly=True))] == [1, 2]
    assert [r.seq for r in store.readings(ReadingQuery(sensor_id="s-1", agent_id="a"))] == [1, 4]
    window = store.readings(ReadingQuery(since=early.ts[2], until=late.ts[0], limit=3))
    assert [r.seq for r in window] == [2, 3, 4]
    assert everything[0].metrics["temperature"] == 20.0 and everything[0].anomaly is False
    assert "vibration" not in everything[5].metrics  # absent stays absent
    with pytest.raises(ValueError, match="limit"):
        ReadingQuery(limit=0)


def test_a_handover_sensors_readings_held_from_its_other_owner_are_stored_once(
    store: Store,
) -> None:
    """Two owners of one sensor for a moment send the same (sensor_id, ts): stored once,
    counted as handover duplicates; other sensors and other times go in as usual."""
    old = make_batch("old", 6, ts=1_700_000_000.0)  # sensors s-0, s-1, s-2 twice
    store.write(WriteSet(batches=[old]))
    same_times = make_batch("new", 6, ts=1_700_000_000.0)  # the same readings, new owner
    later = make_batch("new", 3, first_seq=6, ts=1_700_000_010.0)
    result = store.write(WriteSet(batches=[same_times, later], handover_sensors=frozenset({"s-1"})))
    # s-1's two readings are held from "old"; s-0 and s-2 are not in handover.
    assert [(o.stored, o.handover_duplicates) for o in result.outcomes] == [(4, 2), (3, 0)]
    stored = store.readings(ReadingQuery(agent_id="new", limit=100))
    assert [r.seq for r in stored] == [0, 2, 3, 5, 6, 7, 8]
    assert store.counters().agents["new"].handover_duplicates == 2
    # A batch carrying a handover sensor twice at one time keeps the first of them.
    twice = make_batch("third", 2, ts=1_700_000_020.0).model_copy(
        update={"sensor_id": ["s-9", "s-9"], "ts": [1_700_000_020.0] * 2}
    )
    again = store.write(WriteSet(batches=[twice], handover_sensors=frozenset({"s-9"})))
    assert again.outcomes[0].stored == 2  # one agent's own readings are never dropped


# -- the committed feed ----------------------------------------------------------------


def test_the_feed_lists_each_batch_that_stored_something(store: Store) -> None:
    assert store.feed_head() == 0 and store.feed_after(0, 10) == []
    a = make_batch("a", 5)
    first = store.write(WriteSet(batches=[a, make_batch("b", 3)]))
    store.write(WriteSet(batches=[a]))  # a pure resend adds no entry
    more = make_batch("a", 8)
    store.write(WriteSet(batches=[rechunk(a, 0, 5), rechunk(more, 5, 3)]))
    entries = store.feed_after(0, 10)
    assert [(e.agent_id, e.first_seq, e.last_seq, e.stored) for e in entries] == [
        ("a", 0, 4, 5),
        ("b", 0, 2, 3),
        ("a", 5, 7, 3),
    ]
    positions = [e.position for e in entries]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert first.feed_position == positions[1] and store.feed_head() == positions[-1]
    assert store.feed_after(positions[0], 1) == entries[1:2]
    assert [r.seq for r in store.feed_readings(entries[2])] == [5, 6, 7]


def test_a_consumer_watermark_moves_only_with_its_output(reopen: StoreFactory) -> None:
    store = reopen()
    store.write(WriteSet(batches=[make_batch("a", 6), make_batch("b", 3)]))
    entries = store.feed_after(store.watermark("sensors"), 10)
    summary = store.feed_sensor_summary(entries)
    # Both agents sent sensors s-0..s-2 (two readings each from a, one each from b).
    assert sorted((s.sensor_id, s.readings) for s in summary) == [
        ("s-0", 3),
        ("s-1", 3),
        ("s-2", 3),
    ]
    store.apply_sensor_activity(summary, "sensors", entries[-1].position)
    store.close()
    store = reopen()
    assert store.watermark("sensors") == entries[-1].position
    assert store.watermark("someone-else") == 0
    assert {s.sensor_id: s.readings for s in store.sensors()} == {"s-0": 3, "s-1": 3, "s-2": 3}
    one = store.sensor("s-1")
    assert one is not None and one.first_ts <= one.last_ts and one.anomalies == 0
    assert store.sensor("nobody") is None
    # A late, stale writer can never move the watermark back.
    store.apply_sensor_activity([], "sensors", 1)
    assert store.watermark("sensors") == entries[-1].position


def test_sensor_activity_from_a_moved_watermark_is_refused_whole(store: Store) -> None:
    one = SensorActivity("s", "pump", "a", 1.0, 2.0, 3.0, 5, 1)
    assert store.apply_sensor_activity([one], "sensors", 4, after=0)
    # Another replica read the same page from watermark 0: it writes nothing.
    assert not store.apply_sensor_activity([one], "sensors", 6, after=0)
    assert store.watermark("sensors") == 4
    merged = store.sensor("s")
    assert merged is not None and merged.readings == 5
    assert store.apply_sensor_activity([one], "sensors", 6, after=4)
    assert store.watermark("sensors") == 6


def test_sensor_activity_merges_counts_and_spans(store: Store) -> None:
    def seen(first: float, last: float, n: int, agent: str) -> SensorActivity:
        return SensorActivity("s", "pump", agent, first, last, last + 1, n, 1)

    store.apply_sensor_activity([seen(10.0, 20.0, 5, "a")], "c", 1)
    store.apply_sensor_activity([seen(5.0, 15.0, 2, "b")], "c", 2)  # a late backlog
    merged = store.sensor("s")
    assert merged is not None
    assert (merged.first_ts, merged.last_ts, merged.readings, merged.anomalies) == (5, 20, 7, 2)
    assert merged.agent_id == "a"  # the newest reading's agent, not the last writer


def test_a_retained_refusal_is_counted_once(reopen: StoreFactory) -> None:
    store = reopen()
    bad = Refusal("schema", "a", retained_digest="d" * 64)
    assert store.write(WriteSet(refusals=[bad])).refusals_counted == (True,)
    store.close()
    store = reopen()  # a restarted coordinator is handed the same retained message
    result = store.write(WriteSet(refusals=[bad, Refusal("schema", "a")]))
    assert result.refusals_counted == (False, True)
    assert store.counters().fleet.rejected == {"schema": 2}


# -- aggregates and alerts (AggregateStore, AlertStore) ------------------------------------


def test_windows_merge_move_the_watermark_by_compare_and_set_and_survive(
    reopen: StoreFactory,
) -> None:
    from edgewatch.coordinator.aggregates.compute import contributions
    from edgewatch.coordinator.aggregates.records import AggregateQuery

    store = reopen()
    store.write(WriteSet(batches=[make_batch("a", 6, ts=1_700_000_030.0)]))
    entries = store.feed_after(0, 10)
    updates = contributions(store.feed_columns(entries))
    assert store.apply_aggregates(updates, "aggregates", 0, entries[-1].position)
    assert not store.apply_aggregates(updates, "aggregates", 0, entries[-1].position)
    assert store.watermark("aggregates") == entries[-1].position
    again = reopen()
    fleet = again.aggregates(AggregateQuery(size_s=60, scope="fleet"))
    assert [(w.start, w.stats.count) for w in fleet] == [(1_699_999_980, 6)]
    sensors = again.aggregates(AggregateQuery(size_s=3600, scope_kind="sensor"))
    assert sorted(w.scope for w in sensors) == ["sensor:s-0", "sensor:s-1", "sensor:s-2"]
    assert sum(w.stats.count for w in sensors) == 6


def test_one_active_alert_per_key_with_its_history(store: Store) -> None:
    from edgewatch.coordinator.alerts.records import AlertQuery, Change

    def change(kind: str, at: float, source: str = "cloud", alert_id: int | None = None) -> Change:
        return Change(
            kind=kind,  # type: ignore[arg-type]
            key="low_battery/agent:a",
            rule="low_battery",
            scope="agent:a",
            severity="warning",
            at=at,
            actor="rule" if source == "cloud" else source,
            value=10.0,
            source=source,
            alert_id=alert_id,
        )

    raised = store.apply_alert_changes([change("raise", 1.0)])
    assert [t.event.kind for t in raised] == ["raised"]
    assert store.apply_alert_changes([change("raise", 2.0)]) == []  # already open
    both = store.apply_alert_changes([change("raise", 3.0, "edge:a")])
    assert both[0].alert.sources == ("cloud", "edge:a") and both[0].event.kind == "updated"
    alert_id = raised[0].alert.id
    store.apply_alert_changes([change("ack", 4.0, alert_id=alert_id)])
    store.apply_alert_changes([change("clear", 5.0)])
    assert store.apply_alert_changes([change("clear", 6.0)]) == []  # nothing open to clear
    again = store.apply_alert_changes([change("raise", 7.0)])
    assert again[0].alert.id != alert_id  # a new alert for the same key
    kinds = [e.kind for e in store.alert_history(alert_id)]
    assert kinds == ["raised", "updated", "acknowledged", "cleared"]
    assert [a.state for a in store.alerts(AlertQuery(rule="low_battery"))] == ["open", "cleared"]


def test_edge_receipts_are_applied_once(store: Store) -> None:
    from edgewatch.coordinator.alerts.records import EdgeReceipt

    receipts = [EdgeReceipt("a", 1, seq, 1.0, b"{}") for seq in (0, 1)]
    seen: list[int] = []
    store.apply_edge_alerts(receipts, lambda new: seen.append(len(new)) or [])
    store.apply_edge_alerts(
        [*receipts, EdgeReceipt("a", 1, 2, 2.0, b"{}")], lambda new: seen.append(len(new)) or []
    )
    assert seen == [2, 1]


def test_silences_in_force_and_ended(store: Store) -> None:
    from edgewatch.coordinator.alerts.records import Silence

    made = store.add_silence(Silence(0, "low_battery", None, 10.0, 100.0, "work", "ops"))
    assert [s.id for s in store.silences(50.0)] == [made.id]
    assert store.silences(100.0) == []
    assert store.end_silence(made.id, 20.0) and not store.end_silence(made.id, 30.0)
    assert store.silences(50.0) == [] and len(store.silences(None)) == 1


# -- enrollments, API tokens, audit log -------------------------------------------------


def _enrollment(identity: str, at: float = 1.0, role: str = "agent") -> Enrollment:
    return Enrollment(identity, role, identity, f"edgewatch-agent-{identity}", at, "test")


def test_an_enrollment_is_recorded_once_revoked_and_enrolled_again(reopen: StoreFactory) -> None:
    store = reopen()
    assert store.enroll(_enrollment("pi-1", 1.0))
    assert not store.enroll(_enrollment("pi-1", 2.0))  # active: refused, nothing replaced
    assert store.revoke_enrollment("pi-1", 3.0, "ops")
    assert not store.revoke_enrollment("pi-1", 4.0, "ops")  # already revoked
    revoked = reopen().enrollment("pi-1")
    assert revoked is not None and not revoked.active and revoked.revoked_by == "ops"
    assert store.enroll(_enrollment("pi-1", 5.0))  # a revoked one may come back
    again = reopen().enrollment("pi-1")
    assert again is not None and again.active and again.enrolled_at == 5.0
    assert [e.identity for e in store.enrollments()] == ["pi-1"]
    assert store.enrollment("nobody") is None


def test_tokens_are_found_by_digest_and_revoked(reopen: StoreFactory) -> None:
    store = reopen()
    token = ApiToken("t1", "grafana", "read", 1.0, "test")
    store.add_token(token, "d" * 64)
    assert reopen().token_by_digest("d" * 64) == token
    assert store.token_by_digest("e" * 64) is None
    assert store.revoke_token("t1", 2.0) and not store.revoke_token("t1", 3.0)
    found = reopen().token_by_digest("d" * 64)
    assert found is not None and not found.active
    assert [t.token_id for t in store.tokens()] == ["t1"]


def test_the_audit_log_appends_and_pages(reopen: StoreFactory) -> None:
    store = reopen()
    ids = [
        store.add_audit(AuditEntry(float(i), "ops", "POST /x", "/x", "10.0.0.1", "201"))
        for i in range(5)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 5
    page = reopen().audit_entries(ids[1], 2)
    assert [e.entry_id for e in page] == ids[2:4]
    assert (page[0].actor, page[0].source, page[0].outcome) == ("ops", "10.0.0.1", "201")
