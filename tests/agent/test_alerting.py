"""The agent's own alerts: stored in their own sequence, published locally at once,
sent until acked (and again after a reconnect), configured by the desired state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

from edgewatch.agent.alerting import EdgeAlerting
from edgewatch.agent.outbox import Outbox
from edgewatch.shared.alert_schema import EdgeAlertAck, EdgeAlertBatch
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.codec import decode
from edgewatch.shared.desired import EdgeAlertSettings
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.scoring import Scores
from edgewatch.shared.topics import Topics


class FakeUplink:
    """Records what would be published; ``up`` says whether the link takes it."""

    def __init__(self) -> None:
        self.sent: list[EdgeAlertBatch] = []
        self.up = True

    def send_alerts(self, payload: bytes) -> bool:
        if self.up:
            self.sent.append(decode(payload, EdgeAlertBatch))
        return self.up


def _scored(sensors: list[str], confidence: list[float]) -> tuple[ReadingBatch, Scores]:
    n = len(sensors)
    batch = ReadingBatch(sensors, ["t"] * n, np.full(n, 1.8e9), {"x": np.zeros(n)})
    scores = Scores(np.zeros(n), np.ones(n, dtype=bool), np.asarray(confidence), ["rules"] * n)
    return batch, scores


def _make(tmp_path: Path, clock: ManualClock) -> tuple[Outbox, EdgeAlerting]:
    outbox = Outbox(tmp_path / "outbox.db", "pi-1", max_rows=1000, max_bytes=10**7, clock=clock)
    alerting = EdgeAlerting(
        "pi-1", tmp_path, outbox.path, outbox.epoch, Topics(), ack_timeout_s=5, clock=clock
    )
    return outbox, alerting


def test_found_alerts_are_local_at_once_and_delivered_until_acked(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox, alerting = _make(tmp_path, clock)
    uplink = FakeUplink()
    uplink.up = False
    assert alerting.observe(*_scored(["s1", "s2", "s1"], [0.95, 0.5, 0.99]), clock.monotonic()) == 1
    lines = [orjson.loads(x) for x in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    assert [(a["rule"], a["sensor_id"], a["verdict"], a["seq"]) for a in lines] == [
        ("critical_anomaly", "s1", "raise", 0)
    ]
    alerting.pump(uplink)  # the link is down: nothing sent, nothing lost
    assert uplink.sent == [] and alerting.unacked()
    clock.advance(61)
    assert alerting.tick() == 1  # a quiet minute: the clear, seq 1
    uplink.up = True
    alerting.pump(uplink)
    (batch,) = uplink.sent
    assert (batch.first_seq, [e.verdict for e in batch.events]) == (0, ["raise", "clear"])
    alerting.pump(uplink)  # in flight: not again before the ack timeout
    assert len(uplink.sent) == 1
    clock.advance(5)
    alerting.pump(uplink)  # no ack within the timeout: sent again
    assert len(uplink.sent) == 2
    alerting.acked(EdgeAlertAck(agent_id="pi-1", epoch=outbox.epoch + 2, first_seq=0, last_seq=1))
    assert alerting.unacked()  # an ack of another epoch deletes nothing
    alerting.acked(EdgeAlertAck(agent_id="pi-1", epoch=outbox.epoch, first_seq=0, last_seq=1))
    assert not alerting.unacked()
    alerting.close()
    outbox.close()


def test_alert_events_survive_a_restart_and_keep_their_sequence(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox, alerting = _make(tmp_path, clock)
    alerting.observe(*_scored(["s1"], [0.99]), clock.monotonic())
    alerting.close()
    outbox.close()
    outbox, alerting = _make(tmp_path, clock)
    assert alerting.unacked()
    alerting.observe(*_scored(["s2"], [0.99]), clock.monotonic())
    uplink = FakeUplink()
    alerting.pump(uplink)
    assert [(b.first_seq, len(b.events)) for b in uplink.sent] == [(0, 2)]
    alerting.close()
    outbox.close()


def test_the_desired_state_sets_the_levels(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox, alerting = _make(tmp_path, clock)
    alerting.configure(EdgeAlertSettings(critical_confidence=0.999))
    assert alerting.observe(*_scored(["s1"], [0.99]), clock.monotonic()) == 0
    alerting.configure(EdgeAlertSettings(enabled=False, critical_confidence=0.5))
    assert alerting.observe(*_scored(["s1"], [0.99]), clock.monotonic()) == 0
    alerting.configure(None)  # the defaults again
    assert alerting.observe(*_scored(["s1"], [0.99]), clock.monotonic()) == 1
    alerting.close()
    outbox.close()
