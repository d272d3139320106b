"""coordinator.duty_loop: the thread every duty ticks on."""

from __future__ import annotations

import threading

from edgewatch.coordinator.duty_loop import DutyLoop


def test_a_failing_tick_is_counted_and_the_loop_ticks_again_when_woken() -> None:
    ticks: list[int] = []
    second = threading.Event()

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise RuntimeError("a bad tick")
        second.set()

    loop = DutyLoop("test-duty", tick, interval_s=3600.0)  # only a wake can tick again
    loop.start()
    try:
        loop.wake()
        assert second.wait(10), "the loop stopped after a failing tick"
        assert loop.errors == 1
    finally:
        loop.stop(5.0)
    assert len(ticks) == 2
