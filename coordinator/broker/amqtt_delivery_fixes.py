"""amqtt 0.12.1 fixes for delivery: retained messages, QoS, in-flight and queued messages.

Installed by ``amqtt_fixes.apply()``, which checks the amqtt version first; each patch
names the amqtt function it corrects and why (docs/brokers.md, tests/broker/).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError
from amqtt.mqtt.protocol.handler import ProtocolHandler
from amqtt.session import OUTGOING

from edgewatch.coordinator.broker.amqtt_fixes import reset

log = logging.getLogger(__name__)

# Set while the broker handles one SUBSCRIBE / one PUBLISH of a client (per task).
_subscribing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "amqtt_subscribing", default=False
)
_publish_qos: contextvars.ContextVar[int | None] = contextvars.ContextVar("amqtt_qos", default=None)


def _send_retained_only_on_subscribe() -> None:
    """Retained messages go to a new subscription only, at the lower of the two QoS.

    amqtt's ``Broker._handle_client_session`` calls
    ``_publish_retained_messages_for_subscription`` right after CONNACK for every filter
    in ``Broker._subscriptions``, the filters of *all* clients (PR #248 meant a resumed
    session's own): a new client got every retained message that any other client's
    filters matched. So ``mosquitto_sub -t 'edgewatch/agents/+/status'`` printed every
    hello first, and agents got hellos as acks once the coordinator held its wildcards.
    Retained messages belong to a subscription being made [MQTT-3.3.1-6]; a resumed
    session gets none, as with Mosquitto. Also, amqtt sends them at ``retained.qos or
    qos``, which turns a QoS 0 retained message into the subscription's QoS.
    """
    handle_subscription = Broker._handle_subscription

    async def _handle_subscription(self: Any, *args: Any) -> None:
        token = _subscribing.set(True)
        try:
            await handle_subscription(self, *args)
        finally:
            reset(_subscribing, token)

    async def _publish_retained_messages_for_subscription(
        self: Any, subscription: tuple[str, int], session: Any
    ) -> None:
        handler = self._get_handler(session)
        if not _subscribing.get() or handler is None:
            return
        topic_filter, qos = subscription
        sends = [
            handler.mqtt_publish(m.topic, m.data, _lower(qos, m.qos), retain=True)
            for topic, m in list(self.retained_messages.items())
            if self._matches(topic, topic_filter)
        ]
        _log_failures(await asyncio.gather(*sends, return_exceptions=True))

    Broker._handle_subscription = _handle_subscription
    Broker._publish_retained_messages_for_subscription = _publish_retained_messages_for_subscription


def _deliver_at_the_lower_qos() -> None:
    """Deliver each message at min(publish QoS, subscription QoS); never queue QoS 0.

    amqtt's ``Broker._handle_message_delivery`` broadcasts a client's PUBLISH without its
    QoS, and ``Broker._run_broadcast`` then uses ``broadcast.get("qos", sub_qos)``: every
    message went out at the subscription's QoS [MQTT-3.8.4-6], and QoS 0 heartbeats were
    queued for an offline coordinator as QoS 1 (Mosquitto queues no QoS 0). Wills and
    internal messages, which do carry a QoS, were sent at it even to QoS 0 subscribers.
    This ``_run_broadcast`` is amqtt's with the lower QoS; it also no longer skips
    "anonymous" sessions (see ``OpenAuthPlugin``), iterates a snapshot of the
    subscriptions (it awaits inside) and drops finished delivery tasks as they finish, so
    one client that never acknowledges cannot make the broker's task list grow forever.
    """
    handle_delivery = Broker._handle_message_delivery

    async def _handle_message_delivery(self: Any, session: Any, handler: Any, waiter: Any) -> bool:
        message = waiter.result()
        token = _publish_qos.set(message.qos if message is not None else None)
        try:
            return bool(await handle_delivery(self, session, handler, waiter))
        finally:
            reset(_publish_qos, token)

    async def _broadcast_message(
        self: Any, session: Any, topic: str | None, data: Any, force_qos: int | None = None
    ) -> None:
        qos = force_qos if force_qos is not None else _publish_qos.get()
        await self._broadcast_queue.put(
            {"session": session, "topic": topic, "data": data, "qos": qos}
        )

    Broker._handle_message_delivery = _handle_message_delivery
    Broker._broadcast_message = _broadcast_message
    Broker._run_broadcast = _run_broadcast


async def _run_broadcast(self: Any, running_tasks: deque[asyncio.Task[Any]]) -> None:
    broadcast = await self._broadcast_queue.get()
    topic, message_qos = broadcast["topic"], broadcast.get("qos")
    for topic_filter, subscriptions in list(self._subscriptions.items()):
        if not self._matches(topic, topic_filter):
            continue
        for session, sub_qos in list(subscriptions):
            qos = _lower(sub_qos, message_qos)
            if not await self._topic_filtering(session, topic=topic, action=Action.RECEIVE):
                continue
            if session.transitions.state != "connected":
                if not session.clean_session and qos > 0:  # [MQTT-3.1.2-5]
                    await self._retain_broadcast_message(broadcast, qos, session)
                continue
            handler = self._get_handler(session)
            if handler is not None:
                task = asyncio.ensure_future(
                    handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)
                )
                running_tasks.append(task)
                task.add_done_callback(functools.partial(_forget, running_tasks))


def _keep_unacked_qos1_for_redelivery() -> None:
    """An outgoing QoS 1 message stays in flight until its PUBACK, across reconnects.

    amqtt's ``ProtocolHandler._handle_qos1_message_flow`` removes the message from
    ``session.inflight_out`` in a ``finally``: when the connection closes (its PUBACK
    waiter is cancelled) or after a fixed 5 s without PUBACK, the message is gone, and
    ``_retry_deliveries`` has nothing to resend when the client reconnects (upstream issue
    #401, PR #402). It also registers the PUBACK waiter only after sending, so a fast
    PUBACK found no waiter. Here the waiter exists before the PUBLISH is written, the
    wait has no timeout (MQTT resends on reconnect only [MQTT-4.4.0-1]) and only a PUBACK
    ends the flight; a resend keeps its packet id and sets DUP. Incoming QoS 1 is amqtt's.
    """
    original = ProtocolHandler._handle_qos1_message_flow
    stop_waiters = ProtocolHandler._stop_waiters

    async def _handle_qos1_message_flow(self: Any, message: Any) -> None:
        if message.direction != OUTGOING:
            await original(self, message)
            return
        if message.puback_packet is not None or message.packet_id is None:
            raise AMQTTError(
                f"outgoing QoS 1 message {message.packet_id} acknowledged or unnumbered"
            )
        self.session.inflight_out[message.packet_id] = message
        if getattr(self, "_edgewatch_stopped", False):
            return  # the connection is closing: resent when the client comes back
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._puback_waiters[message.packet_id] = waiter
        packet = message.build_publish_packet(dup=message.publish_packet is not None)
        message.publish_packet = packet
        try:
            await self._send_packet(packet)
            message.puback_packet = await waiter
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            return  # only the waiter was cancelled: the connection closed; keep it in flight
        finally:
            if self._puback_waiters.get(message.packet_id) is waiter:
                del self._puback_waiters[message.packet_id]
        self.session.inflight_out.pop(message.packet_id, None)

    def _stop_waiters(self: Any) -> None:
        self._edgewatch_stopped = True
        stop_waiters(self)

    ProtocolHandler._handle_qos1_message_flow = _handle_qos1_message_flow
    ProtocolHandler._stop_waiters = _stop_waiters


def _send_queued_messages_unretained() -> None:
    """Messages queued for an offline session are delivered with RETAIN=0, in order.

    amqtt's ``Broker._publish_session_retained_messages`` sends what it queued for a
    disconnected persistent session with ``retain=True``; those messages match an
    established subscription, so RETAIN must be 0 [MQTT-3.3.1-9] (a subscriber would take
    a fresh result for a stale retained state).
    """

    async def _publish_session_retained_messages(self: Any, session: Any) -> None:
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = []
        while not session.retained_messages.empty():
            m = session.retained_messages.get_nowait()
            sends.append(handler.mqtt_publish(m.topic, m.data, m.qos, retain=False))
        _log_failures(await asyncio.gather(*sends, return_exceptions=True))

    Broker._publish_session_retained_messages = _publish_session_retained_messages


def _lower(qos: int, other: int | None) -> int:
    return qos if other is None else min(qos, other)


def _forget(tasks: deque[asyncio.Task[Any]], task: asyncio.Task[Any]) -> None:
    """Drop a finished delivery task from the broker's list, logging a failure."""
    try:
        tasks.remove(task)
    except ValueError:
        pass  # amqtt's broadcast loop popped it first (and logged any failure)
    else:
        if not task.cancelled() and task.exception() is not None:
            log.warning("delivery failed: %r", task.exception())


def _log_failures(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            log.warning("delivery failed: %r", result)


PATCHES: tuple[Callable[[], None], ...] = (
    _send_retained_only_on_subscribe,
    _deliver_at_the_lower_qos,
    _keep_unacked_qos1_for_redelivery,
    _send_queued_messages_unretained,
)
