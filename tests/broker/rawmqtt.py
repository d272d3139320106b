"""A raw-socket MQTT 3.1.1 client for the broker conformance suite: every byte on purpose.

paho acknowledges every QoS 1 message it receives, pings on its own schedule and always
closes after DISCONNECT; the properties this suite pins down need a client that can do
none of that: take a PUBLISH and never PUBACK it, go silent or ping late, send DISCONNECT
and wait for the *broker* to close. Only what the suite needs is encoded (CONNECT with a
will, SUBSCRIBE, PUBLISH QoS 0/1, PUBACK, PINGREQ, DISCONNECT) and everything is read.

    >>> raw = RawClient(broker.host, broker.port)
    >>> raw.connect("sub-1", clean_session=False, keepalive=2)
    Connack(session_present=False, return_code=0)
    >>> raw.subscribe([("t/#", 1)])
    [1]
    >>> msg = raw.expect_publish()   # left unacknowledged on purpose
    >>> raw.abort()                  # the socket breaks: no DISCONNECT
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14


class ConnectionClosed(AssertionError):
    """The broker closed the connection while the test expected a packet."""


@dataclass(frozen=True)
class Packet:
    kind: int
    flags: int
    body: bytes


@dataclass(frozen=True)
class Connack:
    session_present: bool
    return_code: int


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int | None


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def connect_packet(client_id: str, clean_session: bool, keepalive: int, will: Will | None) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _string(will.payload)
    return _packet(
        CONNECT, 0, _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    )


def connect_v5_packet(client_id: str) -> bytes:
    """An MQTT 5 CONNECT as paho sends one: clean start, a session expiry property."""
    properties = bytes([0x11]) + struct.pack("!I", 3600)
    header = _string("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 30)
    return _packet(CONNECT, 0, header + _varint(len(properties)) + properties + _string(client_id))


def publish_packet(
    topic: str, payload: bytes, qos: int, retain: bool, packet_id: int | None, dup: bool = False
) -> bytes:
    flags = (0x08 if dup else 0) | qos << 1 | (0x01 if retain else 0)
    body = _string(topic) + (struct.pack("!H", packet_id or 0) if qos else b"") + payload
    return _packet(PUBLISH, flags, body)


def parse_publish(packet: Packet) -> Publish:
    qos = packet.flags >> 1 & 0x03
    (length,) = struct.unpack("!H", packet.body[:2])
    topic = packet.body[2 : 2 + length].decode()
    rest = packet.body[2 + length :]
    packet_id = None
    if qos:
        (packet_id,) = struct.unpack("!H", rest[:2])
        rest = rest[2:]
    return Publish(
        topic, rest, qos, bool(packet.flags & 0x01), bool(packet.flags & 0x08), packet_id
    )


class RawClient:
    """One TCP connection speaking MQTT 3.1.1 by hand; packets are read in order."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self._buffer = bytearray()
        self._inbox: list[Packet] = []
        self._next_id = 0
        self.closed = False

    # -- sending -----------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(
        self,
        client_id: str,
        *,
        clean_session: bool = True,
        keepalive: int = 0,
        will: Will | None = None,
    ) -> Connack:
        self.send(connect_packet(client_id, clean_session, keepalive, will))
        packet = self.expect(CONNACK)
        return Connack(bool(packet.body[0] & 0x01), packet.body[1])

    def connect_v5(self, client_id: str) -> int:
        """Send an MQTT 5 CONNECT; the CONNACK's reason code (0 accepted)."""
        self.send(connect_v5_packet(client_id))
        return self.expect(CONNACK).body[1]

    def subscribe(self, filters: list[tuple[str, int]]) -> list[int]:
        """SUBSCRIBE and wait for its SUBACK; the granted QoS (or 0x80) per filter."""
        pid = self._packet_id()
        body = struct.pack("!H", pid) + b"".join(_string(f) + bytes([q]) for f, q in filters)
        self.send(_packet(SUBSCRIBE, 0x02, body))
        suback = self.expect(SUBACK)
        assert struct.unpack("!H", suback.body[:2])[0] == pid, "SUBACK for another SUBSCRIBE"
        return list(suback.body[2:])

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """PUBLISH; at QoS 1 wait for the PUBACK (other packets read meanwhile are kept)."""
        pid = self._packet_id() if qos else None
        self.send(publish_packet(topic, payload, qos, retain, pid))
        if qos:
            self.expect(PUBACK, lambda p: struct.unpack("!H", p.body)[0] == pid)

    def puback(self, packet_id: int) -> None:
        self.send(_packet(PUBACK, 0, struct.pack("!H", packet_id)))

    def ping(self) -> None:
        self.send(_packet(PINGREQ, 0, b""))

    def disconnect(self) -> None:
        """Send DISCONNECT and leave the socket open (``wait_closed`` sees the broker close)."""
        self.send(_packet(DISCONNECT, 0, b""))

    def abort(self) -> None:
        """Break the connection without DISCONNECT: RST, as when a process is killed."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            self.closed = True

    def close(self) -> None:
        if not self.closed:
            self.sock.close()
            self.closed = True

    # -- receiving ---------------------------------------------------------------------

    def expect(
        self,
        kind: int,
        match: Callable[[Packet], bool] | None = None,
        timeout: float | None = None,
    ) -> Packet:
        """The first packet of ``kind`` (satisfying ``match``), keeping the others in order."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for i, packet in enumerate(self._inbox):
            if packet.kind == kind and (match is None or match(packet)):
                return self._inbox.pop(i)
        while True:
            packet = self._read_packet(deadline)
            if packet.kind == kind and (match is None or match(packet)):
                return packet
            self._inbox.append(packet)

    def expect_publish(self, timeout: float | None = None) -> Publish:
        return parse_publish(self.expect(PUBLISH, timeout=timeout))

    def wait_closed(self, timeout: float) -> bool:
        """True once the broker closes the connection within ``timeout`` (packets are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._inbox.append(self._read_packet(deadline))
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def _read_packet(self, deadline: float) -> Packet:
        header = self._read(1, deadline)[0]
        length, multiplier = 0, 1
        while True:
            digit = self._read(1, deadline)[0]
            length += (digit & 0x7F) * multiplier
            multiplier *= 128
            if not digit & 0x80:
                break
        return Packet(header >> 4, header & 0x0F, self._read(length, deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no complete packet within the deadline ({len(self._buffer)} bytes)"
                )
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:  # RST from the broker
                raise ConnectionClosed(f"connection reset: {exc}") from exc
            if not chunk:
                raise ConnectionClosed("the broker closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data
