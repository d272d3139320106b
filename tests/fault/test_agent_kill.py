"""Fault: the agent is SIGKILLed at random moments mid-stream and restarted, several times.

Each restart reuses the data dir, so the outbox carries the epoch, the next seq and the
source position across the crash: chunks committed but unacked are resent, readings
polled but not yet committed are regenerated identically (the simulator is
deterministic). The ledger must show every reading stored exactly once, in order per
sensor, on both brokers. The kill moments come from a seeded generator, so a failure
replays the same schedule.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.edgewatch import AgentRun, Coordinator, ledger, protocol_for
from tests.support.mosquitto import BrokerUnderTest
from tests.support.procs import ProcGroup, wait_until

COUNT = 9000
RATE = 1500.0
KILLS = 4
SEED = 20261127
RESUMED = re.compile(r"epoch=(\d+) \(resuming at reading (\d+)\)")


def _reached(agent: AgentRun, seq: int) -> Callable[[], bool]:
    return lambda: agent.outbox()["next_seq"] >= seq


@pytest.mark.slow
def test_agent_sigkilled_at_random_moments_delivers_exactly_once(
    broker: BrokerUnderTest, procs: ProcGroup, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    proto = protocol_for(broker.kind)
    coord = Coordinator(procs, broker.url, proto, tmp_path / "coord").start()
    agent = AgentRun(
        procs,
        "crashy-1",
        broker.url,
        proto,
        tmp_path,
        count=COUNT,
        rate=RATE,
        extra=("--batch-max", "100", "--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()

    # Kill points spread over the middle of the stream; a random extra delay puts the
    # SIGKILL anywhere in the agent's loop (mid-poll, mid-commit, mid-publish).
    marks = sorted(rng.sample(range(COUNT // 10, COUNT * 8 // 10), KILLS))
    unacked_at_kill = []
    killed_at = 0
    for mark in marks:
        # Mid-stream of *this* run: it has appended past both the mark and the last kill.
        target = max(mark, killed_at + 1)
        wait_until(_reached(agent, target), 30, message=f"agent never reached reading {target}")
        time.sleep(rng.uniform(0.0, 0.25))
        assert agent.proc is not None and agent.proc.alive, "agent ended before its kill"
        agent.proc.kill()
        after_kill = agent.outbox()
        unacked_at_kill.append(after_kill["rows"])
        killed_at = after_kill["next_seq"]
        agent.start()

    assert agent.proc is not None
    assert agent.proc.wait(120) == 0, "agent did not drain after its last restart"

    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == COUNT == coord.stored()
    assert agent.outbox()["rows"] == 0

    # One outbox, one epoch, across all runs; each restart resumed where the last ended.
    starts = [(int(e), int(p)) for e, p in RESUMED.findall(agent.proc.log_text())]
    assert len(starts) == KILLS + 1
    assert len({epoch for epoch, _ in starts}) == 1, "a restart began a new epoch"
    positions = [p for _, p in starts]
    assert positions[0] == 0
    assert positions == sorted(positions) and positions[-1] < COUNT
    assert all(p > 0 for p in positions[1:])
    # The kills found work in flight (committed, unacked) at least once.
    assert max(unacked_at_kill) > 0, unacked_at_kill
