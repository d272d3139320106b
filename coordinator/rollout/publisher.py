"""Model packages and the key chain on MQTT, retained, for agents to fetch.

A model is published on ``{prefix}/models/{type}/{version}`` while it is **in use**: a
canary, the active model, or the newest retired one of its type and tier (what a
rollback goes back to). Models that leave that set have their retained copy cleared
(an empty retained message), so the broker never holds more than a few per type. The
key chain goes on ``{prefix}/keys``.

Why MQTT and not the API for the bytes: agents already hold a broker connection and
credentials, and an ACL that lets them read (not write) these topics; no API token ever
lives on an edge box; a retained message is handed to an agent the moment it
subscribes, including one that was offline during the rollout; and QoS 1 redelivers a
package cut by a flaky uplink.

``sync`` publishes what changed; ``publish_all`` (broker link up, key rotated) everything.
A publish the link refuses (down) is retried at the next sync.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable

from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.store import ModelStore
from edgewatch.coordinator.store.model_records import ModelRecord
from edgewatch.shared.codec import encode
from edgewatch.shared.modelpack import ModelPackage, ModelSignature
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)
# (topic, payload) -> True if the link took it (retained, QoS 1)
Publish = Callable[[str, bytes], bool]


def in_use(models: list[ModelRecord]) -> list[ModelRecord]:
    """Canaries, active models and the newest retired model per type and tier."""
    keep = [m for m in models if m.status in ("canary", "active")]
    newest: dict[tuple[str, str], ModelRecord] = {}
    for m in models:
        if m.status == "retired":
            key = (m.sensor_type, m.tier)
            if key not in newest or newest[key].version < m.version:
                newest[key] = m
    return keep + list(newest.values())


def package(record: ModelRecord, data: bytes) -> ModelPackage:
    return ModelPackage(
        sensor_type=record.sensor_type,
        version=record.version,
        sha256=record.sha256,
        signature=ModelSignature(
            sensor_type=record.sensor_type,
            tier=record.tier,
            version=record.version,
            sha256=record.sha256,
            key_id=record.key_id,
            signature=record.signature,
        ),
        data=base64.b64encode(data).decode("ascii"),
    )


class ModelPublisher:
    def __init__(
        self, store: ModelStore, keyring: Keyring, topics: Topics, publish: Publish
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.topics = topics
        self._publish = publish
        self._lock = threading.Lock()
        # topic -> what was published there: (model id, signature); "" = cleared
        self._sent: dict[str, str] = {}
        self._keys_sent = ""

    def sync(self) -> int:
        """Publish packages that are new or re-signed, clear those out of use."""
        with self._lock:
            models = self.store.models()
            wanted = {self.topics.model(m.sensor_type, m.version): m for m in in_use(models)}
            done = 0
            for topic, m in sorted(wanted.items()):
                mark = f"{m.id}:{m.signature}"
                if self._sent.get(topic) == mark:
                    continue
                data = self.store.model_file(m.id)
                if data is not None and self._publish(topic, encode(package(m, data))):
                    self._sent[topic] = mark
                    done += 1
                    log.info("published model %s@%d on %s", m.sensor_type, m.version, topic)
            for m in models:
                topic = self.topics.model(m.sensor_type, m.version)
                if topic not in wanted and self._sent.get(topic, "?") != "":
                    if m.status == "candidate" and topic not in self._sent:
                        continue  # never published, nothing to clear
                    if self._publish(topic, b""):
                        self._sent[topic] = ""
            chain = encode(self.keyring.chain())
            if chain.decode() != self._keys_sent and self._publish(self.topics.keys(), chain):
                self._keys_sent = chain.decode()
            return done

    def publish_all(self) -> int:
        """Forget what was sent (the broker may have lost it) and publish everything."""
        with self._lock:
            self._sent = {}
            self._keys_sent = ""
        return self.sync()
