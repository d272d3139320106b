"""Fault: the broker is SIGKILLed mid-stream and restarted on the same port.

Mosquitto keeps sessions and queues in memory (``persistence false``): a SIGKILL loses
every queued message and every session. Two kills:

1. with everything flowing: in-flight publishes and acks die with the broker;
2. while the coordinator is stopped (cleanly, so the broker was queueing for its
   persistent session): the queue itself is lost and the restarted coordinator finds no
   session. Only the agent's outbox still has those readings.

Either way the ledger must be clean: nothing lost, nothing stored twice. The embedded
broker (amqtt, in memory too) gets the same treatment as its own ``edgewatch broker``
process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import Proc, ProcGroup, free_port, wait_until

COUNT = 9000
RATE = 1000.0


@pytest.mark.mosquitto
@pytest.mark.slow
def test_mosquitto_sigkilled_mid_stream_outbox_covers_the_lost_queue(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent = AgentRun(
        procs,
        "bk-1",
        mosquitto.url,
        "5",
        tmp_path,
        count=COUNT,
        rate=RATE,
        extra=("--batch-max", "100", "--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()
    assert agent.proc is not None and coord.proc is not None

    # 1. Kill while readings and acks are on the wire.
    wait_until(lambda: coord.stored() >= 1500, 30, message="nothing stored before the kill")
    mosquitto.kill()
    before = agent.outbox()["next_seq"]
    wait_until(
        lambda: agent.outbox()["next_seq"] >= before + 500,
        10,
        message="agent stopped scoring without its broker",
    )
    mosquitto.start()
    wait_until(coord.healthy, 20, message="coordinator did not reconnect")

    # 2. Kill while the broker holds a queue for the stopped coordinator.
    wait_until(lambda: coord.stored() >= 4000, 30, message="no progress after the restart")
    assert coord.proc.terminate() == 0
    queued_from = coord.stored()
    wait_until(
        lambda: agent.outbox()["next_seq"] >= queued_from + 1500,
        20,
        message="agent published nothing for the stopped coordinator",
    )
    mosquitto.kill()
    mosquitto.start()
    coord.start()

    assert agent.proc.wait(90) == 0, "agent did not drain after the broker kills"
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == COUNT == coord.stored()
    # The coordinator connected three times; the last found no session (the queue died).
    sessions = [line for line in coord.proc.log_text().splitlines() if "session present" in line]
    assert len(sessions) == 3, sessions
    assert sessions[-1].endswith("(session present: False)")
    # The agent saw both kills and came back each time.
    agent_log = agent.proc.log_text()
    assert agent_log.count("WARNING edgewatch.agent.uplink: MQTT link to") >= 2
    assert agent_log.count("uplink up;") >= 3


def _embedded_broker(procs: ProcGroup, port: int, start: int) -> Proc:
    """Start ``edgewatch broker`` (its ``start``-th run: restarts share one log file)."""
    proc = procs.edgewatch("broker", "--port", str(port), name="broker")
    wait_until(
        lambda: proc.log_text().count("edgewatch embedded broker on") >= start,
        20,
        message="embedded broker did not start",
    )
    return proc


@pytest.mark.slow
def test_embedded_broker_sigkilled_mid_stream_and_restarted(
    procs: ProcGroup, tmp_path: Path
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    broker = _embedded_broker(procs, port, 1)
    coord = Coordinator(procs, url, "3.1.1", tmp_path / "coord").start()
    agent = AgentRun(
        procs,
        "bk-2",
        url,
        "3.1.1",
        tmp_path,
        count=5000,
        rate=RATE,
        extra=("--batch-max", "100", "--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()
    assert agent.proc is not None

    wait_until(lambda: coord.stored() >= 1500, 30, message="nothing stored before the kill")
    broker.kill()
    before = agent.outbox()["next_seq"]
    wait_until(
        lambda: agent.outbox()["next_seq"] >= before + 500,
        10,
        message="agent stopped scoring without its broker",
    )
    _embedded_broker(procs, port, 2)

    assert agent.proc.wait(90) == 0, "agent did not drain after the broker kill"
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == 5000 == coord.stored()
    assert agent.proc.log_text().count("INFO edgewatch.agent.runner: uplink up;") >= 2
