"""Protocol-level agents for ``bench rollout``: they announce a tier and sensors of every
simulated type, follow their desired state's model orders, fetch each package, verify it
with the agent's own code (``agent.models.verify``: hash, Ed25519 signature, type,
version) and report the version in their next heartbeat, as a real agent does after a
swap. They score nothing: what is measured is the control plane, not onnxruntime.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.verify import Refused, check_package
from edgewatch.agent.sources.fleet_model import SENSOR_TYPES
from edgewatch.shared.codec import encode
from edgewatch.shared.desired import DesiredState, ModelOrder
from edgewatch.shared.schemas import (
    AgentStatus,
    Heartbeat,
    Hello,
    LocalSensor,
    ModelRef,
    ReportedState,
)
from edgewatch.shared.topics import Topics

TOPICS = Topics()


class ModelAgent:
    def __init__(self, agent_id: str, port: int, pubkey: Path) -> None:
        self.agent_id = agent_id
        self.keys = TrustedKeys.load(pubkey, pubkey.parent / f"{agent_id}-keys")
        self.generation = 0
        self.models: dict[str, ModelRef] = {}
        self.wanted: dict[str, ModelOrder] = {}
        self.refused: dict[str, int] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"model-emu-{agent_id}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        offline = AgentStatus(agent_id=agent_id, state="offline")
        self.client.will_set(TOPICS.status(agent_id), encode(offline), 1, True)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(TOPICS.desired(agent_id), 1)
        online = AgentStatus(agent_id=agent_id, state="online")
        self.client.publish(TOPICS.status(agent_id), encode(online), 1, True)
        hello = Hello(
            agent_id=agent_id,
            ts=time.time(),
            version="bench",
            tier="high",
            sensors=len(SENSOR_TYPES),
            epoch=1,
            own_sensors=[
                LocalSensor(sensor_id=f"{agent_id}-{t}", sensor_type=t) for t in SENSOR_TYPES
            ],
        )
        self.client.publish(TOPICS.hello(agent_id), encode(hello), 1, True)
        self.heartbeat()

    def heartbeat(self) -> None:
        with self._lock:
            models = dict(self.models)
            reported = ReportedState(
                generation=self.generation, models=models, models_refused=dict(self.refused)
            )
        beat = Heartbeat(
            agent_id=self.agent_id,
            ts=time.time(),
            uptime_s=1,
            cpu_percent=5,
            memory_percent=5,
            rss_mb=60,
            outbox_rows=0,
            outbox_bytes=0,
            outbox_oldest_age_s=0,
            readings_scored=0,
            readings_acked=0,
            scorer="tiered(rules)",
            models=models,
            mqtt_protocol="5",
            reported=reported,
        )
        self.client.publish(TOPICS.heartbeat(self.agent_id), encode(beat), 0)

    def _message(self, client: Any, userdata: object, msg: Any) -> None:
        if msg.topic == TOPICS.desired(self.agent_id):
            self._desired(DesiredState.model_validate_json(msg.payload))
            return
        parsed = TOPICS.parse_model(msg.topic)
        if parsed is None or not msg.payload:
            return
        sensor_type, version = parsed
        with self._lock:
            order = self.wanted.get(sensor_type)
        if order is None or order.version != version:
            return
        try:
            check_package(msg.payload, sensor_type=sensor_type, order=order, keys=self.keys)
        except Refused as exc:
            with self._lock:
                self.refused[exc.reason] = self.refused.get(exc.reason, 0) + 1
            return
        with self._lock:
            self.models[sensor_type] = ModelRef(version=version, sha256=order.sha256)
            self.wanted.pop(sensor_type, None)
        client.unsubscribe(msg.topic)
        self.heartbeat()  # report the swap at once, as the agent does

    def _desired(self, doc: DesiredState) -> None:
        if doc.generation <= self.generation:
            return
        fetch = []
        with self._lock:
            self.generation = doc.generation
            for sensor_type, order in doc.models.items():
                running = self.models.get(sensor_type)
                if running is None or running.sha256 != order.sha256:
                    self.wanted[sensor_type] = order
                    fetch.append(TOPICS.model(sensor_type, order.version))
        for topic in fetch:
            self.client.subscribe(topic, 1)
        self.heartbeat()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
