"""Send order and the in-flight window, as pure bookkeeping."""

from __future__ import annotations

from edgewatch.agent.window import SendWindow


def test_reset_splits_backlog_and_live() -> None:
    w = SendWindow(inflight_max=8, ack_timeout_s=5)
    w.reset(oldest_seq=100, next_seq=1000)
    assert (w.backlog_cursor, w.live_from, w.live_cursor) == (100, 1000, 1000)
    assert w.free_slots() == 8
    assert w.backlog_slots() == 6  # a quarter of the window stays free for live data


def test_backlog_cannot_fill_the_live_reserve() -> None:
    w = SendWindow(inflight_max=4, ack_timeout_s=5)
    w.reset(0, 100)
    for seq in range(0, 30, 10):
        w.sent(seq, 10, now=0.0, lane="backlog")
    assert w.backlog_slots() == 0
    assert w.free_slots() == 1
    w.sent(100, 10, now=0.0, lane="live")
    assert w.live_cursor == 110 and w.free_slots() == 0


def test_ack_frees_slots_and_timeout_moves_to_retry() -> None:
    w = SendWindow(inflight_max=4, ack_timeout_s=5)
    w.reset(0, 0)
    w.sent(0, 10, now=0.0, lane="live")
    w.sent(10, 10, now=1.0, lane="live")
    w.acked(0, 9)
    assert list(w.inflight) == [10]
    assert w.expire(now=5.5) == 0
    assert w.expire(now=6.0) == 1
    assert list(w.retry) == [(10, 1)] and not w.inflight
    w.sent(10, 10, now=7.0, lane="retry", attempt=1)
    assert w.resends == 1 and w.live_cursor == 20


def test_each_retry_waits_twice_as_long_up_to_a_cap() -> None:
    w = SendWindow(inflight_max=4, ack_timeout_s=5)
    assert [w.wait_for(a) for a in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    w.reset(0, 0)
    w.sent(0, 10, now=0.0, lane="retry", attempt=2)
    assert w.expire(now=19.9) == 0
    assert w.expire(now=20.0) == 1
    assert list(w.retry) == [(0, 3)]
