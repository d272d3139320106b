"""The agent's side of MQTT: one link, acks and desired states in, chunks out.

paho's network thread only hands events over and never blocks: acks go on a bounded
queue (a dropped ack costs one resend), link up/down go on a small deque of their own
(never dropped: the worker resets its window and re-announces on them) with a wake-up
on the queue. The agent worker takes them off and owns every decision, so the outbox
is touched by one thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from edgewatch.shared import wire
from edgewatch.shared.alert_schema import EdgeAlertAck
from edgewatch.shared.codec import decode, encode
from edgewatch.shared.errors import PayloadError
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink, MqttVersion, Will
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.schemas import Ack, AgentStatus, Heartbeat, Hello
from edgewatch.shared.tls import TlsOptions
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)

HEARTBEAT_EXPIRY_S = 120
MAX_PACKAGE_SLOTS = 64  # model topics subscribed at once are far fewer


@dataclass(frozen=True, slots=True)
class LinkUp:
    session_present: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


@dataclass(frozen=True, slots=True)
class Wake:
    """Tells the worker to look at the link events (nothing else)."""


Event = Ack | EdgeAlertAck | Wake


class Uplink:
    def __init__(
        self,
        agent_id: str,
        broker: BrokerAddress,
        topics: Topics,
        *,
        protocol: MqttVersion,
        keepalive: int,
        inflight_max: int = 16,
        result_expiry_s: int = 60,
        events_max: int = 10_000,
        tls: TlsOptions | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._ack_topic = topics.ack(agent_id)
        self._desired_topic = topics.desired(agent_id)
        self._alerts_ack_topic = topics.edge_alerts_ack(agent_id)
        self._desired: bytes | None = None
        self._keys_topic = topics.keys()
        self._keys: bytes | None = None
        # Model packages by topic: only topics the model manager subscribed to arrive.
        self._packages: dict[str, bytes] = {}
        self._warn = RateLimitedLog(log)
        # MQTT 5 message expiry of result batches: a broker holding a copy longer than
        # this holds a stale one (the outbox resends), so let it go.
        self.result_expiry_s = result_expiry_s
        self.topics = topics
        self.events: queue.Queue[Event] = queue.Queue(maxsize=events_max)
        self._link_events: deque[LinkUp | LinkDown] = deque()
        self._link_lock = threading.Lock()
        self.bad_acks: dict[str, int] = {}
        offline = AgentStatus(agent_id=agent_id, state="offline")
        options = LinkOptions(
            client_id=f"edgewatch-agent-{agent_id}",
            protocol=protocol,
            keepalive=keepalive,
            # paho's QoS 1 window must hold our whole batch window plus status/hello,
            # or publishes beyond it would wait in paho's memory instead of the wire.
            max_inflight=inflight_max + 8,
            will=Will(topics.status(agent_id), encode(offline)),
            # The desired state is retained: (re)subscribing hands us the current one.
            subscriptions=(
                (topics.ack(agent_id), 1),
                (topics.desired(agent_id), 1),
                (topics.keys(), 1),  # the model-signing key chain (retained)
                (topics.edge_alerts_ack(agent_id), 1),
            ),
        )
        self.link = MqttLink(
            broker,
            options,
            on_message=self._on_message,
            on_connect=lambda present: self._link_event(LinkUp(present)),
            on_disconnect=lambda why: self._link_event(LinkDown(why)),
            logger=log,
            tls=tls,
        )

    # -- network thread -------------------------------------------------------------------

    def _put(self, event: Event) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:
            # Dropping an ack is safe (the chunk is resent and re-acked); say so loudly.
            log.warning("agent event queue full; dropped %s", type(event).__name__)

    def _link_event(self, event: LinkUp | LinkDown) -> None:
        # Never blocks paho's thread: the deque is unbounded, and there are two events
        # per connection at most; the wake-up may be dropped when the queue is full,
        # the worker then finds the event at its next turn (within 0.25 s).
        with self._link_lock:
            self._link_events.append(event)
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(Wake())

    def take_link_events(self) -> list[LinkUp | LinkDown]:
        """Link events since the last call, in order (worker thread)."""
        with self._link_lock:
            events = list(self._link_events)
            self._link_events.clear()
        return events

    def _bad(self, reason: str) -> None:
        self.bad_acks[reason] = self.bad_acks.get(reason, 0) + 1

    def take_desired(self) -> bytes | None:
        """The newest desired-state payload since the last call (worker thread)."""
        with self._link_lock:
            payload, self._desired = self._desired, None
        return payload

    def take_models(self) -> tuple[dict[str, bytes], bytes | None]:
        """Model packages by topic and the newest key chain since the last call (worker)."""
        with self._link_lock:
            packages, self._packages = self._packages, {}
            keys, self._keys = self._keys, None
        return packages, keys

    def subscribe_model(self, topic: str) -> None:
        self.link.subscribe(topic, 1)

    def unsubscribe_model(self, topic: str) -> None:
        self.link.unsubscribe(topic)

    def _slot(self, topic: str, payload: bytes) -> None:
        # Slots, not a queue: only the newest copy per topic matters (retained state).
        with self._link_lock:
            if topic == self._keys_topic:
                self._keys = payload
            elif topic in self._packages or len(self._packages) < MAX_PACKAGE_SLOTS:
                self._packages[topic] = payload
            else:
                self._bad("too_many_models")
                return
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(Wake())

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self._keys_topic or self.topics.parse_model(topic) is not None:
            self._slot(topic, payload)
            return
        if topic == self._desired_topic:
            # Only the newest matters: a slot, not a queue, so it can never be dropped
            # for lack of room nor pile up. Validated by the worker.
            with self._link_lock:
                self._desired = payload
            with contextlib.suppress(queue.Full):
                self.events.put_nowait(Wake())
            return
        if topic == self._alerts_ack_topic:
            try:
                alert_ack = decode(payload, EdgeAlertAck, max_bytes=64 * 1024)
            except PayloadError as exc:
                self._bad(exc.reason)
                return
            if alert_ack.agent_id == self.agent_id:
                self._put(alert_ack)
            return
        if topic != self._ack_topic:
            # We subscribe to our ack topic only: anything else is the broker's mistake.
            self._bad("wrong_topic")
            self._warn.warning("wrong_topic", "broker delivered %s to this agent; ignored", topic)
            return
        try:
            ack = wire.decode_ack(payload)
        except PayloadError as exc:
            self._bad(exc.reason)
            self._warn.warning(exc.reason, "bad ack on %s: %s", topic, exc)
            return
        if ack.agent_id != self.agent_id:
            self._bad("agent_mismatch")
            return
        self._put(ack)

    # -- worker thread ---------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        if self.link.connected:
            self.publish_status("offline")
        self.link.stop()

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def protocol(self) -> Literal["5", "3.1.1"]:
        return self.link.protocol

    def send_chunk(self, payload: bytes) -> bool:
        info = self.link.publish(
            self.topics.results(self.agent_id), payload, qos=1, expiry_s=self.result_expiry_s
        )
        return info is not None

    def send_alerts(self, payload: bytes) -> bool:
        """An ``EdgeAlertBatch`` to the coordinator (QoS 1); False while the link is down."""
        info = self.link.publish(self.topics.edge_alerts(self.agent_id), payload, qos=1)
        return info is not None

    def publish_status(self, state: Literal["online", "offline"]) -> None:
        msg = AgentStatus(agent_id=self.agent_id, state=state)
        self.link.publish(self.topics.status(self.agent_id), encode(msg), qos=1, retain=True)

    def publish_hello(self, hello: Hello) -> None:
        self.link.publish(self.topics.hello(self.agent_id), encode(hello), qos=1, retain=True)

    def publish_heartbeat(self, hb: Heartbeat) -> None:
        self.link.publish(
            self.topics.heartbeat(self.agent_id), encode(hb), qos=0, expiry_s=HEARTBEAT_EXPIRY_S
        )
