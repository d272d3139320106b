"""A paho-mqtt connection that keeps itself up: the one MQTT wrapper both sides use.

Why not ``loop_start()``: paho's own reconnect backs off without jitter (a fleet that
lost its broker would reconnect in lock-step) and its keepalive notices a silent dead
link only after two keepalive periods. ``MqttLink`` runs its own network thread:

* connects with **jittered exponential backoff** (equal jitter, reset on success);
* speaks **MQTT 5** when the broker does and falls back to **3.1.1** when a v5 CONNECT
  gets no CONNACK (amqtt, the embedded broker, simply never answers one) or is refused;
* asks paho to probe at half the configured keepalive, so a silently dead link is
  dropped within ``keepalive`` seconds of the last byte received (the bound we test is
  1.5 x keepalive + 1 s);
* hands every message to ``on_message`` from the network thread: callers must only
  enqueue there (see ``agent.uplink`` and ``coordinator.ingest``);
* notices publishes the broker **refuses** (MQTT 5 PUBACK reason codes, e.g. 0x87 "Not
  authorized" from an ACL): counts them, keeps the last (``last_refusal``) and which
  topics are refused now (``refusals()``), and logs one rate-limited line per topic.
  MQTT 3.1.1 has no way to say so: a broker drops a denied publish and acks it as if
  delivered; QoS 0 publishes get no answer in either version.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgewatch.shared.mqtt_options import BrokerAddress, LinkOptions, MqttVersion, Will
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.tls import TlsOptions

__all__ = ["BrokerAddress", "LinkOptions", "MqttLink", "MqttVersion", "Refusal", "Will"]

log = logging.getLogger(__name__)
NOT_AUTHORIZED = 0x87
REFUSAL_LOG_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """A publish the broker answered with a failure reason code (MQTT 5 only)."""

    topic: str
    reason: str  # the reason code's name, as paho spells it ("Not authorized")
    code: int

    @property
    def not_authorized(self) -> bool:
        return self.code == NOT_AUTHORIZED


# (topic, payload, retained): retained copies come back at every (re)subscription.
MessageHandler = Callable[[str, bytes, bool], None]


def _no_write_hook(client: paho.Client, userdata: object, sock: object) -> None:
    """Present only so paho leaves every socket write to the network thread."""


ConnectHandler = Callable[[bool], None]


class MqttLink:
    """One persistent MQTT connection with its own network thread."""

    def __init__(
        self,
        address: BrokerAddress,
        options: LinkOptions,
        *,
        on_message: MessageHandler | None = None,
        on_connect: ConnectHandler | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        logger: logging.Logger | None = None,
        tls: TlsOptions | None = None,
    ) -> None:
        self.address = address
        self.options = options
        # Built once, so a bad CA or key is a ConfigError here, not a reconnect loop.
        self._tls_context = (tls or TlsOptions()).context() if address.tls else None
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._log = logger or log
        self._protocol: Literal["5", "3.1.1"] = "3.1.1" if options.protocol == "3.1.1" else "5"
        self._client = self._new_client()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._protocol_refused = False
        self._last_info: paho.MQTTMessageInfo | None = None
        # mid -> topic of publishes not answered yet, to name the topic of a refusal.
        self._unanswered: dict[int, str] = {}
        self._answered_early: dict[int, ReasonCode] = {}  # answer seen before publish() ended
        self._refused_now: dict[str, Refusal] = {}
        self._outcomes = threading.Lock()
        self._refusal_log = RateLimitedLog(self._log, REFUSAL_LOG_INTERVAL_S)
        self.connects = 0
        self.disconnects = 0
        self.connected_since: float | None = None
        self.last_error: str | None = None
        self._subs_lock = threading.Lock()
        self.refused_publishes = 0
        self.last_refusal: Refusal | None = None

    # -- public -------------------------------------------------------------------------

    @property
    def protocol(self) -> Literal["5", "3.1.1"]:
        return self._protocol

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def refusals(self) -> list[Refusal]:
        """Topics whose latest answered publish the broker refused, with its reason."""
        with self._outcomes:
            return list(self._refused_now.values())

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{self.options.client_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued, disconnect cleanly (no last will), join the thread.

        The network thread itself sends DISCONNECT (it is the only writer), after the
        packets queued before it, e.g. the coordinator's last acks.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> paho.MQTTMessageInfo | None:
        """Queue a publish for the network thread; None (nothing sent) when the link is down.

        Refusing instead of queueing while down keeps paho from holding a second,
        volatile copy of what the caller keeps durably (the agent's outbox); callers bound
        what is in flight (the agent's window), so paho's own queue stays small.
        """
        if not self._connected.is_set():
            return None
        props = None
        if expiry_s is not None and self._protocol == "5":
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.MessageExpiryInterval = int(expiry_s)
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        self._last_info = info
        self._await_answer(info.mid, topic)
        return info

    def _await_answer(self, mid: int, topic: str) -> None:
        # The network thread may have had the answer already (it writes and reads while
        # this thread is between paho's publish() and here): then it is waiting for us.
        with self._outcomes:
            early = self._answered_early.pop(mid, None)
            if early is None:
                self._unanswered[mid] = topic
        if early is not None:
            self._record_answer(topic, early)

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now (when connected) and after every reconnect.

        The filter joins ``options.subscriptions``, which every (re)connect subscribes
        to; a SUBSCRIBE racing a reconnect is at worst sent twice (the broker keeps one).
        """
        with self._subs_lock:
            subs = dict(self.options.subscriptions)
            subs[topic_filter] = qos
            self.options = replace(self.options, subscriptions=tuple(subs.items()))
            self._client.subscribe(topic_filter, qos=qos)  # NO_CONN while down: replayed

    def unsubscribe(self, topic_filter: str) -> None:
        """Stop receiving ``topic_filter``, now and after reconnects."""
        with self._subs_lock:
            subs = dict(self.options.subscriptions)
            subs.pop(topic_filter, None)
            self.options = replace(self.options, subscriptions=tuple(subs.items()))
            self._client.unsubscribe(topic_filter)

    def drop(self) -> None:
        """Close the socket abruptly (tests and the watchdog use it to force a resync)."""
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    # -- network thread -------------------------------------------------------------------

    def _new_client(self) -> paho.Client:
        version = (
            MQTTProtocolVersion.MQTTv5 if self._protocol == "5" else MQTTProtocolVersion.MQTTv311
        )
        persistent = self.options.session_expiry_s > 0
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=version,
            clean_session=None if version == MQTTProtocolVersion.MQTTv5 else not persistent,
        )
        client.max_inflight_messages_set(self.options.max_inflight)
        client.max_queued_messages_set(0)  # 0 = no cap: the callers bound what is in flight
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self._tls_context is not None:
            client.tls_set_context(self._tls_context)
        if self.options.will is not None:
            w = self.options.will
            client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        # With a socket-write hook set, paho only queues packets published from other
        # threads and wakes the loop: the network thread stays the only socket writer.
        # Without it, publish() writes from the caller's thread while loop() writes too,
        # interleaving the bytes of two packets whenever the send buffer is full.
        client.on_socket_register_write = _no_write_hook
        return client

    def _probe_interval(self) -> int:
        # Probing at half the keepalive bounds silent-death detection by one keepalive.
        return max(1, math.ceil(self.options.keepalive / 2))

    def _connect_once(self) -> None:
        props = None
        kwargs: dict[str, object] = {}
        if self._protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.options.session_expiry_s
            kwargs["clean_start"] = self.options.session_expiry_s == 0
        self._client.connect(
            self.address.host,
            self.address.port,
            keepalive=self._probe_interval(),
            properties=props,
            **kwargs,  # type: ignore[arg-type]
        )

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                outcome = self._session()
            except Exception:  # a paho surprise must not end the thread silently
                self._log.exception("MQTT network loop failed; reconnecting")
                outcome = "failed"
            self._mark_down("loop ended")
            if self._stop.is_set():
                break
            if outcome == "hung" and self._maybe_fall_back():
                attempt = 0
                continue
            attempt = 0 if outcome == "was_up" else attempt
            attempt = self._backoff(attempt)
        self._mark_down("stopped")

    def _session(self) -> str:
        """One connection: ``was_up``, ``hung`` (no CONNACK / v5 refused) or ``failed``."""
        # A fresh client per connection: paho would otherwise replay its own copies of
        # unacked publishes after reconnecting, on top of the caller's own resend.
        self._client = self._new_client()
        with self._outcomes:
            # Message ids start again with the new client: the old ones will never be answered.
            self._unanswered.clear()
            self._answered_early.clear()
        self._protocol_refused = False
        try:
            self._connect_once()
        except OSError as exc:
            self.last_error = f"connect: {exc}"
            self._log.info("broker %s unreachable: %s", self.address.url(), exc)
            return "failed"
        started = time.monotonic()
        was_up = False
        stop_deadline: float | None = None
        while True:
            if self._stop.is_set() and stop_deadline is None:
                stop_deadline = time.monotonic() + 2.0
            rc = self._client.loop(timeout=0.05)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            if stop_deadline is not None:
                # Stopping: flush what callers queued (acks...), then say goodbye.
                last = self._last_info
                flushed = not self._client.want_write() and (last is None or last.is_published())
                if flushed or time.monotonic() > stop_deadline:
                    self._client.disconnect()
                    self._client.loop(timeout=0.2)
                    break
                continue
            if self._connected.is_set():
                was_up = True
            elif was_up:
                break
            elif self._connack_overdue(started):
                return "hung"
        if self._protocol_refused:
            return "hung"
        return "was_up" if was_up else "failed"

    def _connack_overdue(self, started: float) -> bool:
        if time.monotonic() - started < self.options.connect_timeout_s:
            return False
        self.last_error = "no CONNACK"
        self._log.warning(
            "no CONNACK from %s within %.1fs", self.address.url(), self.options.connect_timeout_s
        )
        sock = self._client.socket()
        if sock is not None:
            sock.close()
        return True

    def _maybe_fall_back(self) -> bool:
        """In auto mode, switch to 3.1.1 for good after a v5 CONNECT went unanswered.

        Only before the first successful v5 connection, and only when the broker kept the
        connection open without answering (amqtt's reaction) or refused the protocol
        version; a closed connection or a down broker says nothing about the protocol.
        """
        if self.options.protocol != "auto" or self._protocol != "5" or self.connects:
            return False
        self._log.info("broker %s did not accept MQTT 5; using 3.1.1", self.address.url())
        self._protocol = "3.1.1"
        return True

    def _backoff(self, attempt: int) -> int:
        cap = min(self.options.backoff_max_s, self.options.backoff_min_s * 2**attempt)
        delay = cap / 2 + random.uniform(0, cap / 2)
        self._stop.wait(delay)
        return min(attempt + 1, 30)

    def _mark_down(self, why: str) -> None:
        if self._connected.is_set():
            self._connected.clear()
            self.disconnects += 1
            self.connected_since = None
            level = logging.INFO if self._stop.is_set() else logging.WARNING
            self._log.log(level, "MQTT link to %s down: %s", self.address.url(), why)
            if self._on_disconnect is not None:
                self._on_disconnect(why)

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.last_error = f"refused: {reason}"
            self._log.error("broker %s refused connection: %s", self.address.url(), reason)
            if (
                self._protocol == "5"
                and self.options.protocol == "auto"
                and reason.value
                in (
                    0x84,  # unsupported protocol version
                    0x01,  # v3 "unacceptable protocol version" seen through a v5 parser
                )
            ):
                self._protocol_refused = True
                client.disconnect()
            return
        for topic_filter, qos in self.options.subscriptions:
            client.subscribe(topic_filter, qos=qos)
        self.connects += 1
        self.connected_since = time.time()
        self._connected.set()
        self._log.info(
            "MQTT %s connected to %s (session present: %s)",
            self._protocol,
            self.address.url(),
            flags.session_present,
        )
        if self._on_connect is not None:
            self._on_connect(bool(flags.session_present))

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._mark_down(f"disconnected: {reason}")

    def _handle_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # QoS 0: written to the socket; QoS 1: PUBACK, whose reason code MQTT 5 fills in.
        with self._outcomes:
            topic = self._unanswered.pop(mid, None)
            if topic is None:
                self._answered_early[mid] = reason
                return
        self._record_answer(topic, reason)

    def _record_answer(self, topic: str, reason: ReasonCode) -> None:
        if not reason.is_failure:
            with self._outcomes:
                self._refused_now.pop(topic, None)
            return
        refusal = Refusal(topic, str(reason), int(reason.value))
        with self._outcomes:
            self.refused_publishes += 1
            self.last_refusal = refusal
            self._refused_now[topic] = refusal
        self.last_error = f"publish to {topic} refused: {refusal.reason}"
        self._refusal_log.warning(
            f"{topic}:{refusal.code}",
            "broker refused publish to %s: %s%s",
            topic,
            refusal.reason,
            self._refusal_hint(refusal),
        )

    def _refusal_hint(self, refusal: Refusal) -> str:
        if not refusal.not_authorized:
            return ""
        who = f"user {self.address.username!r}" if self.address.username else "anonymous clients"
        return (
            f" (the broker's ACL does not let {who} use this topic; for an agent: does "
            "its --id match its broker username?)"
        )

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
        except Exception:
            # A handler bug must not kill the network thread, and must not go unseen.
            self._log.exception("message handler failed on %s", msg.topic)
