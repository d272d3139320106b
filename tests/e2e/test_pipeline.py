"""End to end with real processes: agent -> broker -> coordinator store, on both brokers.

Every test ends with the ledger: each generated reading stored exactly once, in order
per sensor, nothing unexpected.
"""

from __future__ import annotations

from pathlib import Path

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from tests.support.edgewatch import AgentRun, Coordinator, ledger, protocol_for
from tests.support.mosquitto import BrokerUnderTest, MosquittoFactory
from tests.support.procs import ProcGroup, free_port, wait_until


def test_every_reading_arrives_exactly_once(
    broker: BrokerUnderTest, procs: ProcGroup, tmp_path: Path
) -> None:
    proto = protocol_for(broker.kind)
    coord = Coordinator(procs, broker.url, proto, tmp_path / "coord").start()
    agents = [
        AgentRun(procs, f"a{i}", broker.url, proto, tmp_path, count=3000, seed=i).start()
        for i in (1, 2)
    ]
    for agent in agents:
        assert agent.proc is not None
        assert agent.proc.wait(90) == 0, "agent did not drain"
    report = ledger(coord, agents)
    report.assert_clean()
    assert report.stored == 6000
    stats = coord.api("stats")
    assert stats["readings_stored"] == 6000
    assert stats["agents"]["a1"]["readings_stored"] == 3000


def test_agent_started_offline_scores_then_delivers_once_mosquitto(
    mosquitto_factory: MosquittoFactory, procs: ProcGroup, tmp_path: Path
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    agent = AgentRun(procs, "offline-1", url, "5", tmp_path, count=4000, rate=1000).start()
    # No broker yet: the agent keeps scoring and fills its outbox.
    wait_until(lambda: agent.outbox()["rows"] >= 1500, 20, message="outbox did not fill")
    mosquitto_factory(port=port)
    coord = Coordinator(procs, url, "5", tmp_path / "coord").start()
    assert agent.proc is not None and agent.proc.wait(90) == 0
    assert coord.stored() == 4000
    ledger(coord, [agent]).assert_clean()


def test_agent_started_offline_delivers_once_embedded(procs: ProcGroup, tmp_path: Path) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    agent = AgentRun(procs, "offline-2", url, "3.1.1", tmp_path, count=3000, rate=1000).start()
    wait_until(lambda: agent.outbox()["rows"] >= 1000, 20, message="outbox did not fill")
    broker = EmbeddedBroker(port=port)
    broker.start()
    try:
        coord = Coordinator(procs, url, "3.1.1", tmp_path / "coord").start()
        assert agent.proc is not None and agent.proc.wait(90) == 0
        ledger(coord, [agent]).assert_clean()
    finally:
        broker.stop()
