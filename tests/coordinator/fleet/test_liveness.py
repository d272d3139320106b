"""fleet.liveness on a manual clock: lost by will or silence, back only after a hold-down."""

from __future__ import annotations

from dataclasses import replace

from edgewatch.coordinator.fleet.liveness import Liveness
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.shared.clock import ManualClock


def _agent(agent_id: str, clock: ManualClock, state: str = "online") -> AgentRecord:
    now = clock.time()
    return AgentRecord(
        id=agent_id,
        first_seen=now,
        last_seen=now,
        state=state,
        heartbeat_at=now,  # type: ignore[arg-type]
    )


def test_a_will_loses_an_agent_at_once_and_silence_after_the_timeout() -> None:
    clock = ManualClock()
    live = Liveness(timeout_s=15, hold_down_s=30, clock=clock)
    a, b = _agent("a", clock), _agent("b", clock)
    first = live.observe([a, b])
    assert first.available == {"a", "b"} and first.joined == {"a", "b"} and not first.lost
    clock.advance(1)
    willed = live.observe([replace(a, state="offline"), replace(b, heartbeat_at=clock.time())])
    assert willed.lost == {"a"} and willed.available == {"b"}
    clock.advance(15.5)  # b's last heartbeat is now older than the timeout
    silent = live.observe([replace(a, state="offline"), b])
    assert silent.lost == {"b"} and silent.available == frozenset()


def test_a_flapping_agent_waits_out_the_hold_down_before_it_gets_sensors_back() -> None:
    clock = ManualClock()
    live = Liveness(timeout_s=15, hold_down_s=30, clock=clock)
    a = _agent("a", clock)
    live.observe([a])
    clock.advance(1)
    assert live.observe([replace(a, state="offline")]).lost == {"a"}
    for _ in range(5):  # back and gone, back and gone: never available meanwhile
        clock.advance(5)
        back = live.observe([_agent("a", clock)])
        assert back.available == frozenset() and not back.joined
        clock.advance(1)
        live.observe([replace(_agent("a", clock), state="offline")])
    clock.advance(1)
    live.observe([_agent("a", clock)])
    clock.advance(29.9)
    assert live.observe([_agent("a", clock)]).available == frozenset()
    clock.advance(0.2)  # up for 30.1 s without a break
    assert live.observe([_agent("a", clock)]).joined == {"a"}


def test_a_new_agent_is_available_at_once() -> None:
    clock = ManualClock()
    live = Liveness(clock=clock)
    live.observe([_agent("a", clock)])
    clock.advance(3)
    change = live.observe([_agent("a", clock), _agent("new", clock)])
    assert change.joined == {"new"} and change.available == {"a", "new"}
