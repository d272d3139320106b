"""Acks cannot delete what the coordinator does not have (real agent, broker, coordinator).

Two defects, each reproduced as it was found:

- a forged ack (its epoch read from the agent's retained hello) deleted thousands of
  readings that had never been sent, counted as "acked";
- a batch whose key the store already held with other content was acked as a duplicate,
  and the agent then deleted its genuine readings.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.shared import wire
from edgewatch.shared.codec import encode
from edgewatch.shared.schemas import Ack
from edgewatch.shared.topics import Topics
from tests.support.coordinator import batch_dict, make_batch
from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, free_port, wait_until

TOPICS = Topics()


class Watcher:
    """A bare client on an open broker: reads what anyone can read, publishes forgeries."""

    def __init__(self, mosquitto: MosquittoProcess, *filters: str) -> None:
        self.messages: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="mallory", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_message = self._message
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        for f in filters:
            self.client.subscribe(f, qos=1)

    def _message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages[msg.topic] = bytes(msg.payload)

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            return self.messages.get(topic)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _chunks(data_dir: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(f"file:{data_dir / 'outbox.db'}?mode=ro", uri=True) as conn:
        return [
            (int(a), int(b))
            for a, b in conn.execute("SELECT first_seq, n FROM chunks ORDER BY first_seq")
        ]


@pytest.mark.mosquitto
def test_forged_acks_delete_nothing_and_are_counted(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    agent = AgentRun(
        procs,
        "victim",
        mosquitto.url,
        "5",
        tmp_path,
        count=4000,
        rate=2000,
        # No coordinator yet: the first window stays in flight through the forgery (a few
        # seconds), and is resent 20 s after it went out, once the coordinator is there.
        extra=("--ack-timeout-s", "20", "--inflight-max", "4"),
    )
    watcher = Watcher(mosquitto, TOPICS.hello("victim"), TOPICS.heartbeat("victim"))
    try:
        agent.start()
        wait_until(lambda: agent.outbox()["rows"] >= 3000, 30, message="outbox did not fill")
        wait_until(lambda: watcher.last(TOPICS.hello("victim")), 10, message="no hello")
        hello = wire.decode_hello(watcher.last(TOPICS.hello("victim")) or b"")
        chunks = _chunks(agent.data_dir)
        unsent = chunks[10:30]  # far past the 4 chunks in flight
        before = agent.outbox()["rows"]
        forged = [
            Ack(
                agent_id="victim",
                epoch=hello.epoch,
                first_seq=0,
                last_seq=2**52,
                stored=1,
                duplicates=0,
            ),
            *(
                Ack(
                    agent_id="victim",
                    epoch=hello.epoch,
                    first_seq=f,
                    last_seq=f + n - 1,
                    stored=n,
                    duplicates=0,
                )
                for f, n in unsent
            ),
            Ack(
                agent_id="victim",
                epoch=hello.epoch + 1,
                first_seq=0,
                last_seq=99,
                stored=1,
                duplicates=0,
            ),
        ]
        for ack in forged:
            watcher.publish(TOPICS.ack("victim"), encode(ack))

        def refused() -> int:
            beat = watcher.last(TOPICS.heartbeat("victim"))
            return sum(orjson.loads(beat)["bad_acks"].values()) if beat else 0

        wait_until(lambda: refused() >= len(forged), 15, message="forged acks not reported")
        assert agent.outbox()["rows"] >= before  # nothing deleted
        bad = orjson.loads(watcher.last(TOPICS.heartbeat("victim")) or b"{}")["bad_acks"]
        # Chunk 0 is in flight, so the broad ack names a real start with the wrong range.
        assert bad == {"range_mismatch": 1, "not_sent": len(unsent), "wrong_epoch": 1}
        coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
        assert agent.proc is not None and agent.proc.wait(120) == 0, "agent did not drain"
        ledger(coord, [agent]).assert_clean()  # every reading arrived: none was lost
    finally:
        watcher.close()


@pytest.mark.mosquitto
def test_a_conflicting_key_keeps_both_copies(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: the agent scores offline
    agent = AgentRun(procs, "c1", dead, "5", tmp_path, count=2000, extra=("--batch-max", "500"))
    agent.start()
    wait_until(lambda: agent.outbox()["rows"] == 2000, 30, message="outbox did not fill")
    assert agent.proc is not None and agent.proc.terminate() == 0
    with sqlite3.connect(agent.data_dir / "outbox.db") as conn:
        epoch = int(conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    # Someone stores other readings under this agent's first 100 keys first.
    watcher = Watcher(mosquitto)
    rogue = make_batch("c1", 100, epoch=epoch, first_seq=0)
    watcher.publish(TOPICS.results("c1"), orjson.dumps(batch_dict(rogue)))
    watcher.close()
    wait_until(lambda: coord.stored() == 100, 10, message="rogue batch not stored")
    agent.broker_url = mosquitto.url
    agent.start()
    assert agent.proc is not None and agent.proc.wait(60) == 0, "agent did not drain"
    stats = coord.api("stats")
    assert stats["agents"]["c1"]["conflicts"] == 100
    assert stats["agents"]["c1"]["readings_stored"] == 100 + 1900
    with sqlite3.connect(coord.db) as conn:
        kept = conn.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM conflicts").fetchone()
    assert kept == (100, 0, 99)  # the agent's genuine readings, in quarantine
    with sqlite3.connect(agent.data_dir / "outbox.db") as conn:
        aside = conn.execute("SELECT first_seq, n, readings, ranges FROM conflicted").fetchall()
    assert aside == [(0, 500, 100, "[[0, 99]]")]  # and kept aside on the agent too
    report = ledger(coord, [agent])
    # The rogue's 100 rows are not the agent's readings; its first 100 readings are
    # missing from `readings` but held in both quarantines: moved, not lost.
    assert (report.unexpected, report.missing, report.duplicates) == (100, 100, 0)
