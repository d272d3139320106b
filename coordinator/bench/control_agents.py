"""Protocol-level agents of the control plane for the benchmarks: one MQTT connection
each, announcing themselves and following their desired state; no outbox, no scoring,
no results (``bench.emulated`` is the load generator that sends results)."""

from __future__ import annotations

import time
from typing import Any, Literal


class EmulatedAgent:
    """A protocol-level agent: announces itself (status, hello, heartbeats on demand),
    follows its desired state and reports it at once; ``reports`` collects how long each
    desired state took from issued to reported."""

    def __init__(self, agent_id: str, port: int, reports: dict[str, list[float]]) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        from edgewatch.shared.codec import encode
        from edgewatch.shared.desired import DesiredState
        from edgewatch.shared.schemas import AgentStatus, Heartbeat, Hello, ReportedState
        from edgewatch.shared.topics import Topics

        self.agent_id = agent_id
        self.topics = Topics()
        self._encode = encode
        self._desired_model = DesiredState
        self._beat, self._reported = Heartbeat, ReportedState
        self.reports = reports
        self.generation = 0
        self.active: list[str] = []
        self.state: Literal["online", "offline"] = "online"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"emu-{agent_id}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.will_set(
            self.topics.status(agent_id),
            encode(AgentStatus(agent_id=agent_id, state="offline")),
            1,
            True,
        )
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(self.topics.desired(agent_id), 1)
        now = time.time()
        hello = Hello(
            agent_id=agent_id,
            ts=now,
            version="bench",
            tier="medium",
            capabilities=["assigned"],
            sensors=0,
            epoch=1,
        )
        self.client.publish(
            self.topics.status(agent_id),
            encode(AgentStatus(agent_id=agent_id, state="online")),
            1,
            True,
        )
        self.client.publish(self.topics.hello(agent_id), encode(hello), 1, True)
        self.heartbeat()

    def heartbeat(self) -> None:
        # An agent that went offline sends no heartbeat: one would prove it alive again
        # (the registry takes a heartbeat over a retained "offline").
        if self.state == "offline":
            return
        beat = self._beat(
            agent_id=self.agent_id,
            ts=time.time(),
            uptime_s=1,
            cpu_percent=10,
            memory_percent=10,
            rss_mb=60,
            outbox_rows=0,
            outbox_bytes=0,
            outbox_oldest_age_s=0,
            readings_scored=0,
            readings_acked=0,
            scorer="rules",
            mqtt_protocol="5",
            reported=self._reported(generation=self.generation, active_sensors=self.active),
        )
        self.client.publish(self.topics.heartbeat(self.agent_id), self._encode(beat), 0)

    def _message(self, client: Any, userdata: object, msg: Any) -> None:
        doc = self._desired_model.model_validate_json(msg.payload)
        if doc.generation <= self.generation:
            return
        self.generation = doc.generation
        self.active = sorted(s.sensor_id for s in doc.sensors)
        self.heartbeat()  # report at once, as a real agent does after applying
        self.reports.setdefault(self.agent_id, []).append(time.time() - doc.issued_at)

    def set_state(self, state: Literal["online", "offline"]) -> None:
        """Publish its retained status, as its last will or a restart would."""
        from edgewatch.shared.schemas import AgentStatus

        self.state = state
        status = AgentStatus(agent_id=self.agent_id, state=state)
        self.client.publish(self.topics.status(self.agent_id), self._encode(status), 1, True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
