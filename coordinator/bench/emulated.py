"""A protocol-level load generator: N emulated agents, as ``emqtt-bench`` does for brokers.

Each emulated agent has its own MQTT connection and client id, numbers its readings
``(agent_id, epoch, seq)`` as a real outbox does, makes **one batch per second**
(``rate`` readings, as a real agent lingering 1 s would), and sends as the agent's
send window does: at most ``inflight_max`` (16) batches unacked, the rest waiting in
order (its "outbox", in memory), a batch unacked after ``ack_timeout_s`` resent with
its wait doubled each time (the agent's backoff), so an overloaded coordinator is not
buried under copies. What it does not do is score or keep an outbox on disk: that is
the agent's cost, not the coordinator's, and 1,000 real agents (~70 MB each) do not
fit on one box.

The agents of one generator process share a few threads: paho's network thread per
client (blocked in ``select`` when idle) and one scheduler that spreads the sends evenly
over each second. ``run_generator`` is the body of one such process; the bench starts
several and adds up their ledgers.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.shared.topics import Topics

METRICS = ("temperature", "humidity", "pressure", "vibration", "power_consumption")
SENSORS_PER_AGENT = 5


@dataclass
class EmulatedAgent:
    agent_id: str
    rate: int
    epoch: int = field(default_factory=lambda: secrets.randbits(52) | 1)
    next_seq: int = 0
    # first_seq -> (payload, last sent at, last_seq): sent and unacked
    pending: dict[int, tuple[bytes, float, int]] = field(default_factory=dict)
    # first_seq -> copies sent so far (the resend backoff doubles with each)
    attempts: dict[int, int] = field(default_factory=dict)
    # made, not sent yet (the window was full): (first_seq, payload, last_seq)
    waiting: list[tuple[int, bytes, int]] = field(default_factory=list)
    sent: int = 0
    resent: int = 0
    acked: int = 0
    acked_ranges: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Any = None

    def batch(self, now: float) -> tuple[int, bytes]:
        n, first = self.rate, self.next_seq
        self.next_seq += n
        sensors = [f"{self.agent_id}-s{i % SENSORS_PER_AGENT}" for i in range(n)]
        # Readings made over the last second, in order: what a 1 s linger collects.
        ts = [now - 1.0 + (i + 1) / n for i in range(n)]
        payload = orjson.dumps(
            {
                "schema_version": 2,
                "agent_id": self.agent_id,
                "epoch": self.epoch,
                "first_seq": first,
                "sensor_id": sensors,
                "sensor_type": ["industrial"] * n,
                "ts": ts,
                "metrics": {
                    m: [20.0 + ((first + i) % 17) * 0.25 for i in range(n)] for m in METRICS
                },
                "status": ["normal"] * n,
                "label": [0] * n,
                "score": [0.1] * n,
                "anomaly": [False] * n,
                "confidence": [0.9] * n,
                "scorer": ["rules"] * n,
            }
        )
        return first, payload


class Generator:
    """``agents`` emulated agents on the broker at ``port``, one batch/s each."""

    def __init__(
        self,
        port: int,
        agent_ids: list[str],
        rate: int,
        *,
        ack_timeout_s: float = 10.0,
        inflight_max: int = 16,
    ) -> None:
        self.port = port
        self.topics = Topics()
        self.ack_timeout_s = ack_timeout_s
        self.inflight_max = inflight_max
        self.agents = [EmulatedAgent(a, rate) for a in agent_ids]
        self.bad_acks = 0

    def connect(self) -> None:
        for agent in self.agents:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"emu-{agent.agent_id}",
                protocol=MQTTProtocolVersion.MQTTv5,
                userdata=agent,
            )
            client.on_message = self._on_ack
            client.max_inflight_messages_set(64)
            client.connect("127.0.0.1", self.port, keepalive=30)
            client.subscribe(self.topics.ack(agent.agent_id), 1)
            client.loop_start()
            agent.client = client

    def _on_ack(self, client: paho.Client, agent: EmulatedAgent, msg: paho.MQTTMessage) -> None:
        ack = orjson.loads(msg.payload)
        with agent.lock:
            if ack.get("epoch") != agent.epoch:
                self.bad_acks += 1
                return
            first, last = int(ack["first_seq"]), int(ack["last_seq"])
            # An ack covers whole batches here (the coordinator acks what it was sent).
            for start in [
                s for s, (_, _, end) in agent.pending.items() if first <= s and end <= last
            ]:
                del agent.pending[start]
                agent.acked += 1

    def run(self, duration_s: float, drain_s: float) -> None:
        """Send for ``duration_s``, then resend until everything is acked (or ``drain_s``)."""
        n = len(self.agents)
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < duration_s:
            second = start + tick
            for i, agent in enumerate(self.agents):
                due = second + i / n
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self._send_new(agent)
            self._resend_due()
            tick += 1
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and any(a.pending or a.waiting for a in self.agents):
            self._resend_due()
            time.sleep(0.2)

    def _send_new(self, agent: EmulatedAgent) -> None:
        first, payload = agent.batch(time.time())
        with agent.lock:
            agent.waiting.append((first, payload, first + agent.rate - 1))
        self._fill(agent)

    def _fill(self, agent: EmulatedAgent) -> None:
        """Send waiting batches, oldest first, while the window has room."""
        out = []
        with agent.lock:
            while agent.waiting and len(agent.pending) < self.inflight_max:
                first, payload, last = agent.waiting.pop(0)
                agent.pending[first] = (payload, time.monotonic(), last)
                agent.attempts[first] = 1
                agent.sent += 1
                out.append(payload)
        for payload in out:
            agent.client.publish(self.topics.results(agent.agent_id), payload, qos=1)

    def _resend_due(self) -> None:
        now = time.monotonic()
        for agent in self.agents:
            with agent.lock:
                due = []
                for s, (p, at, last) in agent.pending.items():
                    wait = self.ack_timeout_s * 2 ** (agent.attempts.get(s, 1) - 1)
                    if now - at > min(wait, 300.0):
                        due.append((s, p, last))
                for s, p, last in due:
                    agent.pending[s] = (p, now, last)
                    agent.attempts[s] = agent.attempts.get(s, 1) + 1
                    agent.resent += 1
            for _, p, _ in due:
                agent.client.publish(self.topics.results(agent.agent_id), p, qos=1)
            self._fill(agent)

    def close(self) -> None:
        for agent in self.agents:
            if agent.client is not None:
                agent.client.loop_stop()
                agent.client.disconnect()

    def ledger(self) -> dict[str, Any]:
        return {
            # agent -> [epoch, readings generated, [[first, last] acked], readings unacked]
            "agents": {
                a.agent_id: [
                    a.epoch,
                    a.next_seq,
                    a.acked_ranges,
                    sum(end - s + 1 for s, (_, _, end) in a.pending.items())
                    + sum(end - s + 1 for s, _, end in a.waiting),
                ]
                for a in self.agents
            },
            "batches_sent": sum(a.sent for a in self.agents),
            "batches_resent": sum(a.resent for a in self.agents),
            "batches_unacked": sum(len(a.pending) + len(a.waiting) for a in self.agents),
            "bad_acks": self.bad_acks,
        }


def run_generator(
    port: int, agent_ids: list[str], rate: int, duration_s: float, drain_s: float, out: Any
) -> None:
    """One generator process: connect, send, drain, report its ledger on ``out``."""
    gen = Generator(port, agent_ids, rate)
    try:
        gen.connect()
        time.sleep(1.0)  # subscriptions in place before the first batch is acked
        gen.run(duration_s, drain_s)
        out.put(gen.ledger())
    finally:
        gen.close()
