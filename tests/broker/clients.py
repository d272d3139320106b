"""A bare paho-mqtt 2.2 client for the conformance suite that records what it receives.

Not ``MqttLink`` (the product's wrapper) and not ``MqttProbe`` (which resubscribes on
every reconnect): the suite judges the *broker*, so the client does nothing on its own
beyond what paho must do. MQTT 3.1.1, which both brokers speak. paho's network thread
only appends to a list under a ``Condition``; tests wait on that condition with a
timeout, never with a sleep.

    >>> sub = Client(broker.host, broker.port).connect()
    >>> sub.subscribe("t/+", qos=1)
    1
    >>> pub.publish("t/a", b"x")
    >>> sub.wait_for(lambda got: any(m.payload == b"x" for m in got))
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.broker.rawmqtt import Will


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def __repr__(self) -> str:  # a 2 MiB payload must not flood a failure report
        shown = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Message({self.topic!r}, {shown!r}, qos={self.qos}, retain={self.retain})"


class Client:
    """One paho connection (3.1.1); ``messages`` in arrival order, awaited via ``wait_for``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
        keepalive: int = 30,
        will: Will | None = None,
    ) -> None:
        self.host, self.port, self.keepalive = host, port, keepalive
        self.client_id = client_id or f"conf-{uuid.uuid4().hex[:10]}"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=clean_session,
        )
        if will is not None:
            self.client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._cond = threading.Condition()
        self.messages: list[Message] = []
        self.session_present: bool | None = None
        self.connected = False
        self._granted: dict[int, list[int]] = {}

    # -- lifecycle ---------------------------------------------------------------------

    def connect(self, timeout: float = 5.0) -> Client:
        """Connect and start paho's network thread; returns once CONNACK accepted us."""
        self.client.connect(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        self._wait(lambda: self.connected, timeout, "no CONNACK")
        return self

    def disconnect(self, timeout: float = 5.0) -> None:
        """A clean DISCONNECT (no will), then stop the network thread."""
        self.client.disconnect()
        self._wait(lambda: not self.connected, timeout, "DISCONNECT did not complete")
        self.client.loop_stop()

    def kill(self) -> None:
        """Die without DISCONNECT: stop paho and reset the socket, as a killed process does."""
        self.client.loop_stop()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def stop(self) -> None:
        """Teardown: whatever state the test left the client in."""
        with contextlib.suppress(Exception):  # already gone: nothing to clean
            self.client.disconnect()  # first: it wakes the network thread, so the stop is quick
        self.client.loop_stop()

    # -- operations --------------------------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 5.0) -> int:
        """SUBSCRIBE and wait for the SUBACK; the granted QoS (128 when refused)."""
        _, mid = self.client.subscribe(topic_filter, qos)
        self._wait(lambda: mid in self._granted, timeout, f"no SUBACK for {topic_filter}")
        return self._granted[mid][0]

    def unsubscribe(self, topic_filter: str, timeout: float = 5.0) -> None:
        done = threading.Event()
        self.client.on_unsubscribe = lambda *_args: done.set()
        self.client.unsubscribe(topic_filter)
        assert done.wait(timeout), f"no UNSUBACK for {topic_filter}"

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 10.0
    ) -> None:
        """PUBLISH and wait until paho is done with it (PUBACK at QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish to {topic} not acknowledged in {timeout}s"

    # -- waiting -----------------------------------------------------------------------

    def wait_for(
        self, done: Callable[[list[Message]], bool], timeout: float = 5.0, what: str = ""
    ) -> list[Message]:
        """Every message so far, once ``done(messages)`` holds; AssertionError on timeout."""
        self._wait(lambda: done(self.messages), timeout, what or "expected messages")
        with self._cond:
            return list(self.messages)

    def wait_payload(self, payload: bytes, timeout: float = 5.0) -> list[Message]:
        """Every message up to and including the first one carrying ``payload``."""
        got = self.wait_for(
            lambda ms: any(m.payload == payload for m in ms), timeout, f"{payload!r}"
        )
        return got[: [m.payload for m in got].index(payload) + 1]

    def wait_disconnected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self.connected, timeout)

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(
                    f"{self.client_id}: {what} within {timeout}s; got {self.messages}"
                )

    # -- paho's network thread: record and notify, nothing else -------------------------

    def _on_connect(self, _c: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        with self._cond:
            if not reason.is_failure:
                self.connected = True
                self.session_present = bool(flags.session_present)
            self._cond.notify_all()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        with self._cond:
            self.connected = False
            self._cond.notify_all()

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        with self._cond:
            self._granted[mid] = [c.value for c in codes]
            self._cond.notify_all()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))
            self._cond.notify_all()
