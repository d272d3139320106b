"""amqtt 0.12.1 fixes for connections: CONNECT, takeover, keepalive, closing connections.

Installed by ``amqtt_fixes.apply()``, which checks the amqtt version first; each patch
names the amqtt function it corrects and why (docs/brokers.md, tests/broker/).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.codecs_amqtt import read_or_raise
from amqtt.mqtt.connect import ConnectPayload
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

from edgewatch.coordinator.broker.amqtt_fixes import reset

log = logging.getLogger(__name__)
MQTT_3_1_1 = 4  # the protocol level in CONNECT
KEEPALIVE_GRACE = 1.5  # [MQTT-3.1.2-24]: disconnect after 1.5 x the client's keepalive
TAKEOVER_TIMEOUT_S = 5.0

# The CONNECT being handled, per connection task (see _remember_each_connect).
_connecting: contextvars.ContextVar[Any] = contextvars.ContextVar("amqtt_connecting", default=None)
_ON_CONNECT: list[Callable[[Any, Any], Awaitable[None]]] = []


@dataclass
class _Connect:
    """The CONNECT being handled: set per connection task by ``_remember_each_connect``."""

    broker: Any
    incoming: Any = None  # the Session amqtt parsed from the CONNECT packet


def _remember_each_connect() -> None:
    """Plumbing for the takeover and will-retain fixes: expose the CONNECT being handled.

    amqtt parses the CONNECT (``BrokerProtocolHandler.init_from_connect``) and then, in
    the same call of ``Broker._initialize_client_session``, deletes or merges the stored
    session at once; the fixes need the broker and the parsed session in between.
    """
    initialize = Broker._initialize_client_session
    from_connect = BrokerProtocolHandler.init_from_connect.__func__

    async def _initialize_client_session(self: Any, *args: Any) -> Any:
        token = _connecting.set(_Connect(self))
        try:
            return await initialize(self, *args)
        finally:
            reset(_connecting, token)

    async def init_from_connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        handler, incoming = await from_connect(cls, *args, **kwargs)
        connect = _connecting.get()
        if connect is not None:
            connect.incoming = incoming
            for hook in _ON_CONNECT:
                await hook(connect.broker, incoming)
        return handler, incoming

    Broker._initialize_client_session = _initialize_client_session
    BrokerProtocolHandler.init_from_connect = classmethod(init_from_connect)


def _take_over_the_previous_connection() -> None:
    """A CONNECT with a client id already connected closes that connection first.

    amqtt: for a clean session ``Broker._initialize_client_session`` only drops the old
    session from its table (``_delete_session``) and leaves the old connection open, alive
    until its keepalive runs out, when its will fires and overwrites the new connection's
    retained ``online`` with ``offline``; for a persistent one it merges the new will into
    the shared session and lets the old connection's loop mark it disconnected *after*
    the new one attached, so the live session stops receiving. [MQTT-3.1.4-2] says
    disconnect the existing client; as Mosquitto does, its will is published (before the
    new CONNACK) unless both connections asked for a persistent session. (This runs
    before amqtt authenticates the newcomer; the embedded broker admits everyone anyway,
    see ``amqtt_auth``.)
    """
    _ON_CONNECT.append(_close_previous_connection)


async def _close_previous_connection(broker: Any, incoming: Any) -> None:
    old, old_handler = broker.sessions.get(incoming.client_id, (None, None))
    if old is None or old_handler is None or not old.transitions.is_connected():
        return
    log.info("client %s connected again: closing its previous connection", incoming.client_id)
    if not (old.clean_session or incoming.clean_session):
        old.will_flag = False
    await old_handler.handle_connection_closed()  # wakes its loop: will, then disconnected
    await old_handler.stop()  # frees a loop blocked on PUBACKs that will never come
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TAKEOVER_TIMEOUT_S
    while old.transitions.is_connected() and loop.time() < deadline:
        await asyncio.sleep(0.005)  # amqtt signals the end of that loop in no other way
    if old.transitions.is_connected():
        log.warning("client %s: previous connection did not close in time", incoming.client_id)


def _keep_the_latest_will_retain_flag() -> None:
    """A resumed session takes the will *retain* flag of the new CONNECT too.

    amqtt's ``Broker._initialize_client_session`` copies will flag, topic, message and QoS
    of a reconnecting persistent client into the stored session but not ``will_retain``,
    so the first connection's retain flag stuck for the session's lifetime.
    """
    initialize = Broker._initialize_client_session

    async def _initialize_client_session(self: Any, *args: Any) -> Any:
        handler, session = await initialize(self, *args)
        connect = _connecting.get()
        # Identity, not ==: amqtt's Session compares equal by client id.
        if connect is not None and connect.incoming is not None and connect.incoming is not session:
            session.will_retain = connect.incoming.will_retain
        return handler, session

    Broker._initialize_client_session = _initialize_client_session


def _enforce_keepalive() -> None:
    """Close a connection that sent nothing for 1.5 x its keepalive, so its will fires.

    amqtt: ``ProtocolHandler._reader_loop`` (mqtt/protocol/handler.py) waits for each
    packet header with a timeout of 1.0 x ``session.keep_alive`` and on timeout calls
    ``handle_read_timeout``, which ``BrokerProtocolHandler`` implements as ``pass``; the
    loop just reads on (upstream issue #308). A client that died silently stayed
    "connected" until TCP gave up, minutes to hours, and its will never fired. Here the
    timeout is 1.5 x keepalive [MQTT-3.1.2-24] (1.0 x would drop healthy clients that ping
    exactly on time) and expiry aborts the transport, so the reader sees EOF and the
    broker handles it as a broken connection: will published, session disconnected.
    """
    initialize = Broker._initialize_client_session

    async def _initialize_client_session(self: Any, *args: Any) -> Any:
        handler, session = await initialize(self, *args)
        if session.keep_alive > 0:  # read by the reader loop as its timeout
            session.keep_alive = session.keep_alive * KEEPALIVE_GRACE
        return handler, session

    def handle_read_timeout(self: Any) -> None:
        client_id = self.session.client_id if self.session else None
        log.info("client %s silent for 1.5 x its keepalive: closing the connection", client_id)
        if isinstance(self.writer, StreamWriterAdapter):
            self.writer._writer.transport.abort()
        elif self.reader is not None:
            self.reader.feed_eof()

    Broker._initialize_client_session = _initialize_client_session
    BrokerProtocolHandler.handle_read_timeout = handle_read_timeout


def _refuse_other_protocol_versions_at_once() -> None:
    """Answer a CONNECT of another protocol version (MQTT 5) with CONNACK 0x01 at once.

    amqtt's ``ConnectPayload.from_stream`` (mqtt/connect.py) parses every CONNECT payload
    as 3.1.1. An MQTT 5 CONNECT has properties before its payload, which it misreads as
    the client id's length, then it waits for bytes that never come: no CONNACK until the
    client gives up. ``MqttLink`` in auto mode so waited its whole connect timeout (4 s)
    on every start before falling back to 3.1.1. ``init_from_connect`` already refuses
    other protocol levels with 0x01 [MQTT-3.1.2-2]; it only needs a payload to get there,
    so the rest of such a packet is skipped and a placeholder payload returned.
    """
    original = ConnectPayload.from_stream.__func__

    async def from_stream(cls: Any, reader: Any, fixed: Any, variable: Any) -> Any:
        if fixed is None or variable is None or variable.proto_level == MQTT_3_1_1:
            return await original(cls, reader, fixed, variable)
        rest = fixed.remaining_length - len(variable.to_bytes())
        if rest > 0:
            await read_or_raise(reader, rest)
        return cls(client_id="", will_topic="", will_message=b"")

    ConnectPayload.from_stream = classmethod(from_stream)


def _close_a_connection_the_broker_stopped_serving() -> None:
    """A client whose PUBLISH amqtt refuses is disconnected, with its will, not ignored.

    amqtt's ``Broker._client_message_loop`` ends (``break``) when
    ``_handle_message_delivery`` refuses a PUBLISH (a ``$`` topic, a wildcard, no topic),
    logging "closing connection", but nothing closes it: the reader still acknowledges
    the client's QoS 1 messages and nobody delivers them, the session stays "connected"
    and its will never fires. A prefix configured as ``$edgewatch`` would have silently
    swallowed everything. MQTT closes the connection on such a protocol error and
    publishes the will [MQTT-3.1.2-8]; here the broker's own disconnect handling runs.
    """
    message_loop = Broker._client_message_loop

    async def _client_message_loop(self: Any, session: Any, handler: Any) -> None:
        await message_loop(self, session, handler)
        current = self.sessions.get(session.client_id, (None, None))[1]
        if session.transitions.is_connected() and current is handler:  # loop ended, not the client
            log.warning("client %s: refused PUBLISH, closing the connection", session.client_id)
            ended: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            ended.set_result(None)  # "no DISCONNECT": will, handler stopped, disconnected
            await self._handle_disconnect(session, handler, ended)

    Broker._client_message_loop = _client_message_loop


def _close_sockets_even_when_peer_is_gone() -> None:
    """Close a client's socket even when the client vanished first.

    amqtt's ``StreamWriterAdapter.close`` drains and writes EOF before closing; when the
    peer is already gone either raises and the socket is never closed: one leaked file
    descriptor per vanished client, which a long-running demo (agents restarting, links
    flapping) would accumulate. Closing in all cases is what it meant to do.
    """
    original = StreamWriterAdapter.close

    async def close(self: Any) -> None:
        try:
            await original(self)
        except (OSError, ConnectionError):
            self._writer.close()

    StreamWriterAdapter.close = close


PATCHES: tuple[Callable[[], None], ...] = (
    _take_over_the_previous_connection,
    _keep_the_latest_will_retain_flag,
    _enforce_keepalive,
    _refuse_other_protocol_versions_at_once,
    _close_a_connection_the_broker_stopped_serving,
    _close_sockets_even_when_peer_is_gone,
    _remember_each_connect,  # last: the outermost wrapper, around the others
)
