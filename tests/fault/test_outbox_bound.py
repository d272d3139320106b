"""Fault: the outbox bound is reached during a long outage (real Mosquitto, real processes).

The agent generates well past ``--outbox-max-rows`` with no broker to talk to. The
declared policy is drop-oldest: the readings missing from the store must be exactly one
leading run of the stream, exactly as many as the agent reports dropped by ``bound``
(outbox file and heartbeat agree), and everything else must arrive exactly once.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoFactory
from tests.support.procs import ProcGroup, free_port, wait_until

COUNT = 3000
MAX_ROWS = 800
BATCH = 100  # chunks of 100 readings, so the bound is met to the chunk


def test_outbox_bound_drops_exactly_the_oldest_and_reports_them(
    mosquitto_factory: MosquittoFactory, procs: ProcGroup, tmp_path: Path
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    agent = AgentRun(
        procs,
        "bound-1",
        url,
        "5",
        tmp_path,
        count=COUNT,
        rate=2000,
        extra=(
            "--outbox-max-rows",
            str(MAX_ROWS),
            "--batch-max",
            str(BATCH),
            "--ack-timeout-s",
            "2",
            # Full chunks only (3,000 is a multiple of BATCH): on a loaded box a 50 ms
            # linger cut short chunks, and the bound, met to the chunk, then kept fewer.
            "--linger-ms",
            "10000",
        ),
    ).start()
    # No broker: the whole stream is scored into an outbox that can hold a quarter of it.
    wait_until(
        lambda: agent.outbox()["next_seq"] >= COUNT, 30, message="agent did not score its stream"
    )
    offline = agent.outbox()
    assert offline["rows"] == MAX_ROWS
    dropped = offline["dropped:bound"]
    assert dropped == COUNT - MAX_ROWS
    assert agent.proc is not None and agent.proc.alive

    mosquitto_factory(port=port)
    coord = Coordinator(procs, url, "5", tmp_path / "coord").start()
    assert agent.proc.wait(60) == 0, "agent did not drain after the outage"

    report = ledger(coord, [agent], dropped=dropped)
    report.assert_clean()
    # Drop-oldest, exactly: the missing readings are the first `dropped` of the stream.
    assert report.missing_indices("bound-1") == tuple(range(dropped))
    assert report.stored == COUNT - dropped == coord.stored()
    assert agent.outbox() == {"rows": 0, "next_seq": COUNT, "dropped:bound": dropped}
    # The operator saw the same figure: the heartbeat the coordinator keeps for the agent.
    beat = coord.api("agents/bound-1")["heartbeat"]
    assert beat["dropped"] == {"bound": dropped}
